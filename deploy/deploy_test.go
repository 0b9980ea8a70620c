package deploy

import (
	"errors"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// repo is the deployment files as read from the repository root.
type repo struct {
	compose    *composeFile
	keyfile    *composeFile // docker-compose.keyfile.yml
	dockerfile string
	script     string
	initScript string
	files      fs.FS
}

func loadRepo(t *testing.T) *repo {
	t.Helper()
	files := os.DirFS("..")
	read := func(name string) []byte {
		t.Helper()
		b, err := fs.ReadFile(files, name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	parse := func(name string) *composeFile {
		t.Helper()
		c, err := parseCompose(read(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return c
	}
	return &repo{compose: parse("docker-compose.yml"), keyfile: parse(keyfileOverride),
		dockerfile: string(read("Dockerfile")), script: string(read(clusterScript)),
		initScript: string(read(initScript)), files: files}
}

func (r *repo) check() error {
	return errors.Join(checkCompose(r.compose, r.files), checkDockerfile(r.dockerfile), checkScript(r.script, r.compose),
		checkKeyfile(r.compose, r.keyfile, r.initScript, r.script, r.files))
}

const clusterScript = "scripts/cluster-test.sh"

var itShardsLine = regexp.MustCompile(`(?m)^it_shards='([^']*)'$`)

// checkScript wants scripts/cluster-test.sh to test exactly the sets rs-init initiates.
func checkScript(script string, c *composeFile) error {
	m := itShardsLine.FindStringSubmatch(script)
	if m == nil {
		return errors.New(clusterScript + ": no it_shards='...' line")
	}
	sets, err := parseSetList(m[1])
	if err != nil {
		return errors.New(clusterScript + ": it_shards: " + err.Error())
	}
	var initSets map[string][]string
	if s := c.Services[initService]; s != nil {
		initSets, _ = parseSetList(s.Environment["SHARD_SETS"])
	}
	if !sameSets(sets, initSets, false) {
		return errors.New(clusterScript + ": it_shards differs from " + initService + "'s SHARD_SETS")
	}
	if !strings.Contains(script, `MONGOS_LITE_IT_SHARDS="$it_shards"`) {
		return errors.New(clusterScript + ": does not pass it_shards to the suite as MONGOS_LITE_IT_SHARDS")
	}
	return nil
}

func TestDeploymentFilesAgree(t *testing.T) {
	if err := loadRepo(t).check(); err != nil {
		t.Fatal(err)
	}
}

// setArg replaces the value after flag (every occurrence) in args.
func setArg(args []string, flag, value string) {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			args[i+1] = value
		}
	}
}

// dropArgs removes each occurrence of the consecutive args want.
func dropArgs(args []string, want ...string) []string {
	for i := 0; i+len(want) <= len(args); i++ {
		if slices.Equal(args[i:i+len(want)], want) {
			return append(args[:i:i], args[i+len(want):]...)
		}
	}
	return args
}

func dropString(list []string, s string) []string {
	return slices.DeleteFunc(list, func(x string) bool { return x == s })
}

// Every disagreement the check exists for makes it fail: parse the committed files, break one
// thing in memory, and expect an error that names it.
func TestCheckCatchesDisagreements(t *testing.T) {
	svc := func(r *repo, name string) *service { return r.compose.Services[name] }
	initSets := func(r *repo, old, new string) {
		env := svc(r, initService).Environment
		env["SHARD_SETS"] = strings.Replace(env["SHARD_SETS"], old, new, 1)
	}
	tests := []mutation{
		{"member in another set", func(r *repo) { setArg(svc(r, "rs0-1").Command, "--replSet", "rs1") }, "rs0-1: --replSet"},
		{"two members on one port", func(r *repo) { setArg(svc(r, "rs1-2").Command, "--port", "27018") }, "both listen on port 27018"},
		{"member port not published", func(r *repo) {
			svc(r, "net").Ports = dropString(svc(r, "net").Ports, "127.0.0.1:27020:27020")
		}, "port 27020 is not published"},
		{"member published on another host port", func(r *repo) {
			ports := svc(r, "net").Ports
			ports[slices.Index(ports, "127.0.0.1:27020:27020")] = "127.0.0.1:37020:27020"
		}, "port 27020 is not published"},
		{"host port published twice", func(r *repo) { svc(r, "net").Ports = append(svc(r, "net").Ports, "27018:27018") }, "host port 27018 published twice"},
		{"random host port", func(r *repo) { svc(r, "net").Ports = append(svc(r, "net").Ports, "27030") }, "random host port"},
		{"ports on a member", func(r *repo) { svc(r, "rs0-0").Ports = []string{"27040:27018"} }, "rs0-0: ports on a service in another's namespace"},
		{"a set of two", func(r *repo) { delete(r.compose.Services, "rs1-2") }, "set rs1 has 2 members"},
		{"a third set", func(r *repo) {
			m := *svc(r, "rs1-2")
			m.Command = slices.Clone(m.Command)
			setArg(m.Command, "--replSet", "rs2")
			setArg(m.Command, "--port", "27024")
			r.compose.Services["rs2-0"] = &m
		}, "form sets [rs0 rs1 rs2]"},
		{"member without test commands", func(r *repo) {
			svc(r, "rs0-0").Command = dropArgs(svc(r, "rs0-0").Command, "--setParameter", "enableTestCommands=1")
		}, "rs0-0: no --setParameter enableTestCommands=1"},
		{"member without bind_ip_all", func(r *repo) {
			svc(r, "rs0-0").Command = dropString(svc(r, "rs0-0").Command, "--bind_ip_all")
		}, "rs0-0: no --bind_ip_all"},
		{"member of another MongoDB", func(r *repo) { svc(r, "rs1-0").Image = "mongo:7.0" }, `rs1-0: image "mongo:7.0"`},
		{"member outside the namespace", func(r *repo) { svc(r, "rs0-2").NetworkMode = "" }, "rs0-2: network namespace rs0-2"},
		{"init misses a member", func(r *repo) { initSets(r, ",localhost:27023", "") }, "SHARD_SETS initiates"},
		{"init names a wrong port", func(r *repo) { initSets(r, "localhost:27019", "localhost:27029") }, "SHARD_SETS initiates"},
		{"init reorders members", func(r *repo) {
			initSets(r, "localhost:27018,localhost:27019", "localhost:27019,localhost:27018")
		}, "SHARD_SETS initiates"},
		{"init uses another host name", func(r *repo) { initSets(r, "localhost:27021", "rs1-0:27021") }, "SHARD_SETS initiates"},
		{"init waits for no member", func(r *repo) { delete(svc(r, initService).DependsOn, "rs1-1") }, "does not depend on rs1-1"},
		{"init script not mounted", func(r *repo) { svc(r, initService).Volumes = nil }, "does not run ./scripts/init-replica-sets.js"},
		{"router names a wrong host", func(r *repo) {
			cmd := svc(r, routerService).Command
			cmd[slices.IndexFunc(cmd, func(a string) bool { return strings.HasPrefix(a, "rs1=") })] = "rs1=rs1/localhost:27021,localhost:27022,localhost:27033"
		}, "--shard flags name"},
		{"router misses a set", func(r *repo) {
			cmd := svc(r, routerService).Command
			i := slices.IndexFunc(cmd, func(a string) bool { return strings.HasPrefix(a, "rs1=") })
			svc(r, routerService).Command = slices.Delete(cmd, i-1, i+1)
		}, "--shard flags name"},
		{"router spec unparsable", func(r *repo) {
			cmd := svc(r, routerService).Command
			cmd[slices.IndexFunc(cmd, func(a string) bool { return strings.HasPrefix(a, "rs1=") })] = "rs1=rs1/localhost"
		}, `shard spec "rs1=rs1/localhost"`},
		{"router port not published", func(r *repo) {
			svc(r, "net").Ports = dropString(svc(r, "net").Ports, "127.0.0.1:27017:27017")
		}, "mongos-lite's port 27017 is not published"},
		{"router on another port", func(r *repo) { svc(r, routerService).Environment["MONGOS_LITE_PORT"] = "28017" }, "listens on 28017"},
		{"router --port flag", func(r *repo) {
			svc(r, routerService).Command = append(svc(r, routerService).Command, "--port", "27017")
		}, "set MONGOS_LITE_PORT instead"},
		{"router on loopback", func(r *repo) { setArg(svc(r, routerService).Command, "--bind", "127.0.0.1") }, `--bind "127.0.0.1"`},
		{"router from another Dockerfile", func(r *repo) { svc(r, routerService).Build.Dockerfile = "Dockerfile.dev" }, "built from Dockerfile.dev"},
		{"router not built here", func(r *repo) { svc(r, routerService).Build = nil }, "not built from the repository root"},
		{"router does not wait for init", func(r *repo) { svc(r, routerService).DependsOn[initService] = "service_started" }, "want service_completed_successfully"},
		{"router in its own namespace", func(r *repo) { svc(r, routerService).NetworkMode = "" }, "network namespace"},
		{"no init service", func(r *repo) { delete(r.compose.Services, initService) }, "services rs-init and mongos-lite are both needed"},
		{"script tests other sets", func(r *repo) {
			r.script = strings.Replace(r.script, "localhost:27023'", "localhost:27024'", 1)
		}, "it_shards differs"},
		{"Dockerfile: root user", func(r *repo) {
			r.dockerfile = strings.Replace(r.dockerfile, "USER nonroot:nonroot", "USER root", 1)
		}, "USER root"},
		{"Dockerfile: no user", func(r *repo) {
			r.dockerfile = strings.Replace(r.dockerfile, "USER nonroot:nonroot", "", 1)
		}, "no USER"},
		{"Dockerfile: no health check", func(r *repo) {
			r.dockerfile = strings.Replace(r.dockerfile, "HEALTHCHECK ", "# HEALTHCHECK ", 1)
		}, "no HEALTHCHECK"},
		{"Dockerfile: health check off", func(r *repo) { r.dockerfile += "HEALTHCHECK NONE\n" }, "no HEALTHCHECK"},
		{"Dockerfile: cgo", func(r *repo) {
			r.dockerfile = strings.ReplaceAll(r.dockerfile, "CGO_ENABLED=0", "CGO_ENABLED=1")
		}, "without CGO_ENABLED=0"},
		{"Dockerfile: no trimpath", func(r *repo) {
			r.dockerfile = strings.Replace(r.dockerfile, "-trimpath", "", 1)
		}, "without -trimpath"},
		{"Dockerfile: one stage", func(r *repo) {
			r.dockerfile = regexp.MustCompile(`(?m)^FROM gcr\.io.*$`).ReplaceAllString(r.dockerfile, "")
		}, "want a build stage and a runtime stage"},
		{"Dockerfile: shell in the runtime stage", func(r *repo) { r.dockerfile += "RUN echo hi\n" }, "RUN in the runtime stage"},
		{"Dockerfile: no port", func(r *repo) {
			r.dockerfile = strings.Replace(r.dockerfile, "EXPOSE 27017", "EXPOSE 8080", 1)
		}, "does not EXPOSE 27017"},
	}
	checkMutations(t, tests)
}

// mutation is one change to the repository's files that check must refuse with wantErr.
type mutation struct {
	name    string
	mutate  func(r *repo)
	wantErr string
}

// checkMutations applies each mutation to a fresh copy of the files and expects check to fail.
func checkMutations(t *testing.T, tests []mutation) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := loadRepo(t)
			tt.mutate(r)
			err := r.check()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("check after the change: %v\nwant an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseComposeRefusesShellStrings(t *testing.T) {
	for _, doc := range []string{
		"services:\n  x:\n    command: mongod --replSet rs0\n",
		"services:\n  x:\n    environment: [A=1]\n",
	} {
		if _, err := parseCompose([]byte(doc)); err == nil {
			t.Errorf("parsed %q; want the check to refuse a form it cannot read", doc)
		}
	}
}
