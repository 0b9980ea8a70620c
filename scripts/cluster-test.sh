#!/usr/bin/env bash
# Runs the integration suite against real MongoDB: the shard replica sets (mongod 8.0) and the
# mongos-lite image of docker-compose.yml. Needs Docker with the compose plugin, Go, and ports
# 27017-27023 free on 127.0.0.1.
#
#   scripts/cluster-test.sh                    # up, wait, test, tear down
#   scripts/cluster-test.sh -run TestKill -v   # arguments go to `go test`
#   KEEP=1 scripts/cluster-test.sh             # leave the cluster running afterwards
#   KEYFILE=1 scripts/cluster-test.sh          # with key-file authentication (docker-compose.keyfile.yml)
#
# KEYFILE=1 creates .secrets/keyfile if it is missing (scripts/keyfile.sh), adds
# docker-compose.keyfile.yml, and gives the suite the key as MONGOS_LITE_IT_KEYFILE: its router
# and its own connections to the members authenticate as __system@local.
#
# The suite resets the sets before each test (it drops their databases): point it at test
# clusters only. It refuses mongods that run without enableTestCommands.
set -euo pipefail
cd "$(dirname "$0")/.."

# The sets rs-init initiates, in the suite's syntax (deploy/compose_test.go checks they agree).
it_shards='rs0/localhost:27018,localhost:27019,localhost:27020;rs1/localhost:27021,localhost:27022,localhost:27023'
router_uri='mongodb://localhost:27017/'
# The host key docker-compose.keyfile.yml's keyfile-init reads (deploy/compose_test.go checks).
keyfile='.secrets/keyfile'
files=(-f docker-compose.yml)
it_env=(MONGOS_LITE_IT_SHARDS="$it_shards" MONGOS_LITE_IT_ROUTER="$router_uri")
default_project=mongos-lite-it
case "${KEYFILE:-0}" in
0) ;;
1)
	scripts/keyfile.sh "$keyfile"
	files+=(-f docker-compose.keyfile.yml)
	it_env+=(MONGOS_LITE_IT_KEYFILE="$PWD/$keyfile")
	# A project of its own: volumes of a run without the key would not match.
	default_project=mongos-lite-it-keyfile
	;;
*)
	echo "cluster-test: KEYFILE=${KEYFILE}: want 0 or 1" >&2
	exit 2
	;;
esac
project="${COMPOSE_PROJECT_NAME:-$default_project}"
wait_seconds="${WAIT_SECONDS:-300}"

if ! docker compose version >/dev/null 2>&1; then
	echo "cluster-test: needs Docker with the compose plugin (docker compose)" >&2
	exit 1
fi
if ! docker info >/dev/null 2>&1; then
	echo "cluster-test: the Docker engine does not answer (docker info)" >&2
	exit 1
fi

compose() { docker compose -p "$project" "${files[@]}" "$@"; }

finish() {
	local status=$?
	if [ "$status" -ne 0 ]; then
		echo "== exit $status; the last logs of the init services and mongos-lite:" >&2
		if [ "${KEYFILE:-0}" = 1 ]; then
			compose logs --no-color --tail=50 keyfile-init >&2 || true
		fi
		compose logs --no-color --tail=50 rs-init mongos-lite >&2 || true
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		echo "== cluster left running (KEEP=1); stop it with: docker compose -p $project ${files[*]} down -v"
	else
		echo "== tearing down"
		compose down -v --remove-orphans || true
	fi
	exit "$status"
}
trap finish EXIT

# state SERVICE FORMAT: docker inspect FORMAT of the service's container, stopped ones too.
state() {
	local id
	id=$(compose ps -a -q "$1")
	[ -n "$id" ] || return 1
	docker inspect --format "$2" "$id"
}

echo "== docker compose up (project $project)"
# Returns once rs-init has initiated both sets (mongos-lite waits for it), or fails with it.
compose up --build -d

echo "== waiting for mongos-lite's health check"
deadline=$((SECONDS + wait_seconds))
until [ "$(state mongos-lite '{{.State.Health.Status}}' || true)" = healthy ]; do
	if [ "$(state rs-init '{{.State.ExitCode}}' || true)" != 0 ]; then
		echo "cluster-test: rs-init did not succeed" >&2
		exit 1
	fi
	if [ "$SECONDS" -ge "$deadline" ]; then
		echo "cluster-test: mongos-lite not healthy after ${wait_seconds}s:" \
			"$(state mongos-lite '{{.State.Status}} {{.State.Health.Status}}' || echo 'no container')" >&2
		exit 1
	fi
	sleep 2
done

echo "== go test ./integration/... against the cluster"
env "${it_env[@]}" go test -race -count=1 -timeout 20m ./integration/... "$@"
