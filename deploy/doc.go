// Package deploy holds no code. Its tests check the container files at the repository root
// (Dockerfile, docker-compose.yml, scripts/cluster-test.sh) against each other statically,
// because CI has no container engine to run them: the replica sets the compose file starts, the
// members the init service initiates, the router's --shard flags and the published ports must
// agree, and the image must stay static, non-root and health-checked.
package deploy
