package deploy

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// What docker-compose.keyfile.yml must provide: every mongod with the same --keyFile, the router
// with --keyfile, each reading a copy of the host's key that keyfile-init installed mode 0400 and
// owned by the reader's uid.
const (
	keyfileOverride = "docker-compose.keyfile.yml"
	keyfileInit     = "keyfile-init"
	hostKey         = ".secrets/keyfile" // scripts/keyfile.sh writes it; cluster-test.sh's keyfile='...'
	installScript   = "scripts/install-keyfile.sh"
	mongodUID       = 999   // mongodb in the mongo image: mongod refuses a key file it does not own
	routerUID       = 65532 // nonroot in the distroless image (the Dockerfile's USER)
)

// localhostException is what the localhost exception lets rs-init run on a key-file member that
// has no users yet: it has no credentials.
var localhostException = []string{"replSetGetStatus", "replSetInitiate"}

// mount is one entry of a service's volumes ("SOURCE:TARGET[:MODE]").
type mount struct{ source, target, mode string }

func mounts(s *service) []mount {
	var out []mount
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		m := mount{source: parts[0]}
		if len(parts) > 1 {
			m.target = parts[1]
		}
		if len(parts) > 2 {
			m.mode = parts[2]
		}
		out = append(out, m)
	}
	return out
}

// mountOf is the mount that holds file in s (the longest target that contains it).
func mountOf(s *service, file string) (mount, bool) {
	var best mount
	for _, m := range mounts(s) {
		if (m.target == file || strings.HasPrefix(file, strings.TrimSuffix(m.target, "/")+"/")) && len(m.target) > len(best.target) {
			best = m
		}
	}
	return best, best.target != ""
}

// mergeCompose applies an override file to a base file as `docker compose -f base -f over` does,
// for the fields the checks read: scalars, commands and entrypoints replace; environments and
// depends_on merge by key; volumes merge by target; ports add up.
func mergeCompose(base, over *composeFile) *composeFile {
	out := &composeFile{Services: map[string]*service{}, Volumes: maps.Clone(base.Volumes)}
	if out.Volumes == nil {
		out.Volumes = map[string]any{}
	}
	maps.Copy(out.Volumes, over.Volumes)
	for name, s := range base.Services {
		out.Services[name] = cloneService(s)
	}
	for name, o := range over.Services {
		s, ok := out.Services[name]
		if !ok {
			out.Services[name] = cloneService(o)
			continue
		}
		for _, f := range []struct{ dst, src *string }{{&s.Image, &o.Image}, {&s.NetworkMode, &o.NetworkMode}, {&s.User, &o.User}} {
			if *f.src != "" {
				*f.dst = *f.src
			}
		}
		if o.Build != nil {
			b := *o.Build
			s.Build = &b
		}
		if o.Entrypoint != nil {
			s.Entrypoint = slices.Clone(o.Entrypoint)
		}
		if o.Command != nil {
			s.Command = slices.Clone(o.Command)
		}
		if s.Environment == nil && o.Environment != nil {
			s.Environment = map[string]string{}
		}
		maps.Copy(s.Environment, o.Environment)
		if s.DependsOn == nil && o.DependsOn != nil {
			s.DependsOn = dependsOn{}
		}
		maps.Copy(s.DependsOn, o.DependsOn)
		s.Ports = append(s.Ports, o.Ports...)
		for _, m := range mounts(o) {
			s.Volumes = slices.DeleteFunc(s.Volumes, func(v string) bool {
				parts := strings.Split(v, ":")
				return len(parts) > 1 && parts[1] == m.target
			})
		}
		s.Volumes = append(s.Volumes, o.Volumes...)
	}
	return out
}

func cloneService(s *service) *service {
	c := *s
	c.Entrypoint, c.Command = slices.Clone(s.Entrypoint), slices.Clone(s.Command)
	c.Environment, c.DependsOn = maps.Clone(s.Environment), maps.Clone(s.DependsOn)
	c.Ports, c.Volumes = slices.Clone(s.Ports), slices.Clone(s.Volumes)
	if s.Build != nil {
		b := *s.Build
		c.Build = &b
	}
	return &c
}

// keyReader is a service that reads a copy of the key: where, and the uid that must own it.
type keyReader struct {
	service string
	file    string
	uid     int
}

var keyfileLine = regexp.MustCompile(`(?m)^keyfile='([^']*)'$`)

// initCommands are the command names the init script sends (command(host, {NAME: ...})).
var initCommands = regexp.MustCompile(`command\([^,]+,\s*\{\s*(\w+)\s*:`)

// checkKeyfile checks docker-compose.keyfile.yml over docker-compose.yml, the init script rs-init
// runs on key-file members and how scripts/cluster-test.sh uses the override.
func checkKeyfile(base, over *composeFile, initJS, script string, files fs.FS) error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(keyfileOverride+": "+format, args...))
	}
	if base == nil || over == nil || over.Services == nil {
		return errors.New(keyfileOverride + ": no services")
	}
	merged := mergeCompose(base, over)
	// Everything docker-compose.yml promises still holds with the override.
	if err := checkCompose(merged, files); err != nil {
		fail("with the override: %v", err)
	}

	// Every mongod: its docker-compose.yml command plus one --keyFile, the same for all.
	var readers []keyReader
	var memberKey string
	for _, name := range slices.Sorted(maps.Keys(base.Services)) {
		if !memberName.MatchString(name) {
			continue
		}
		cmd := merged.Services[name].Command
		k, err := flagValue(cmd, "--keyFile")
		if err != nil {
			fail("%s: %v", name, err)
			continue
		}
		if rest := dropArgs(slices.Clone(cmd), "--keyFile", k); !slices.Equal(rest, base.Services[name].Command) {
			fail("%s: command %q is not docker-compose.yml's %q plus --keyFile", name, cmd, base.Services[name].Command)
		}
		if memberKey == "" {
			memberKey = k
		} else if k != memberKey {
			fail("%s: --keyFile %s, other members %s: all members of all sets share one key file path", name, k, memberKey)
		}
		readers = append(readers, keyReader{service: name, file: k, uid: mongodUID})
	}

	// The router: --keyfile, or MONGOS_LITE_KEYFILE, which keeps its command in docker-compose.yml.
	router := merged.Services[routerService]
	if router != nil {
		keys := flagValues(router.Command, "--keyfile")
		if v, ok := router.Environment["MONGOS_LITE_KEYFILE"]; ok {
			keys = append(keys, v)
		}
		switch len(keys) {
		case 0:
			fail("%s: no --keyfile (nor MONGOS_LITE_KEYFILE): it would not authenticate to the key-file members", routerService)
		case 1:
			readers = append(readers, keyReader{service: routerService, file: keys[0], uid: routerUID})
		default:
			fail("%s: key file given %d times (--keyfile, MONGOS_LITE_KEYFILE)", routerService, len(keys))
		}
	}

	// keyfile-init: root, installs the host's key with scripts/install-keyfile.sh.
	kinit := over.Services[keyfileInit]
	if kinit == nil {
		fail("no %s service to install the key for its readers", keyfileInit)
		return errors.Join(errs...)
	}
	if kinit.Image != mongoImage {
		fail("%s: image %q, want %s (already pulled, has sh and install)", keyfileInit, kinit.Image, mongoImage)
	}
	if kinit.User != "root" && kinit.User != "0" {
		fail("%s: user %q, want root: it chowns the copies", keyfileInit, kinit.User)
	}
	bound := map[string]mount{} // target → bind mount from the repository
	for _, m := range mounts(kinit) {
		bound[m.target] = m
	}
	if len(kinit.Entrypoint) != 2 || kinit.Entrypoint[0] != "sh" || bound[kinit.Entrypoint[1]].source != "./"+installScript {
		fail("%s: entrypoint %q, want [sh, <./%s mounted>]", keyfileInit, kinit.Entrypoint, installScript)
	}
	if _, err := fs.Stat(files, installScript); err != nil {
		fail("%v", err)
	}
	if len(kinit.Command) == 0 {
		fail("%s: no command (KEY UID:PATH...)", keyfileInit)
		return errors.Join(errs...)
	}
	if src := bound[kinit.Command[0]]; src.source != "./"+hostKey || src.mode != "ro" {
		fail("%s: the key %s is not the host key ./%s mounted read-only (scripts/keyfile.sh writes it)", keyfileInit, kinit.Command[0], hostKey)
	}
	installed := map[string]int{} // volume/relative path → uid
	for _, arg := range kinit.Command[1:] {
		u, p, ok := strings.Cut(arg, ":")
		uid, err := strconv.Atoi(u)
		m, in := mountOf(kinit, p)
		if !ok || err != nil || !in {
			fail("%s: %q is not UID:PATH in one of its volumes", keyfileInit, arg)
			continue
		}
		installed[m.source+"/"+strings.TrimPrefix(p, strings.TrimSuffix(m.target, "/")+"/")] = uid
	}

	// Each reader: its copy, installed for its uid, mounted read-only, there before it starts.
	for _, r := range readers {
		s := merged.Services[r.service]
		m, ok := mountOf(s, r.file)
		if !ok || strings.HasPrefix(m.source, ".") || strings.HasPrefix(m.source, "/") {
			fail("%s: key file %s is in no named volume of %s", r.service, r.file, keyfileInit)
			continue
		}
		if m.mode != "ro" {
			fail("%s: key volume %s mounted %q, want ro", r.service, m.source, m.mode)
		}
		if _, ok := merged.Volumes[m.source]; !ok {
			fail("volume %s (%s's key) is not declared", m.source, r.service)
		}
		rel := m.source + "/" + strings.TrimPrefix(r.file, strings.TrimSuffix(m.target, "/")+"/")
		switch uid, ok := installed[rel]; {
		case !ok:
			fail("%s: %s does not install %s (volume %s) that it reads", r.service, keyfileInit, r.file, m.source)
		case uid != r.uid:
			fail("%s: its key copy %s is installed for uid %d, want %d (the reader must own it)", r.service, rel, uid, r.uid)
		}
		if cond := s.DependsOn[keyfileInit]; cond != "service_completed_successfully" {
			fail("%s: depends on %s with %q, want service_completed_successfully", r.service, keyfileInit, cond)
		}
	}

	// rs-init has no key: only what the localhost exception allows.
	var used []string
	for _, m := range initCommands.FindAllStringSubmatch(initJS, -1) {
		used = append(used, m[1])
		if !slices.Contains(localhostException, m[1]) {
			fail("%s sends %s, which the localhost exception of a key-file member refuses (it allows %v)", initScript, m[1], localhostException)
		}
	}
	if len(used) == 0 {
		fail("%s: no command(host, {NAME: ...}) calls found", initScript)
	}

	// scripts/cluster-test.sh: KEYFILE=1 uses this file, this key, and hands the key to the suite.
	if m := keyfileLine.FindStringSubmatch(script); m == nil || m[1] != hostKey {
		fail("%s: want keyfile='%s', the key keyfile-init reads", clusterScript, hostKey)
	}
	for _, want := range []string{"-f " + keyfileOverride, `MONGOS_LITE_IT_KEYFILE="$PWD/$keyfile"`, `scripts/keyfile.sh "$keyfile"`} {
		if !strings.Contains(script, want) {
			fail("%s: KEYFILE=1 does not use %s", clusterScript, want)
		}
	}
	return errors.Join(errs...)
}

// Every disagreement the key-file check exists for makes it fail (as TestCheckCatchesDisagreements).
func TestKeyfileCheckCatchesDisagreements(t *testing.T) {
	over := func(r *repo, name string) *service { return r.keyfile.Services[name] }
	tests := []mutation{
		{"member without --keyFile", func(r *repo) {
			over(r, "rs0-1").Command = dropArgs(over(r, "rs0-1").Command, "--keyFile", "/run/keyfile/keyfile")
		}, "rs0-1: no --keyFile"},
		{"member command drifted from the base file", func(r *repo) {
			over(r, "rs1-0").Command = dropArgs(over(r, "rs1-0").Command, "--wiredTigerCacheSizeGB", "0.25")
		}, "rs1-0: command"},
		{"member breaks a base check", func(r *repo) { setArg(over(r, "rs1-2").Command, "--port", "27018") }, "with the override: "},
		{"member on another key path", func(r *repo) {
			setArg(over(r, "rs1-2").Command, "--keyFile", "/run/keyfile/other")
		}, "all members of all sets share one key file path"},
		{"member key volume writable", func(r *repo) {
			over(r, "rs0-0").Volumes = []string{"mongod-keyfile:/run/keyfile"}
		}, `rs0-0: key volume mongod-keyfile mounted ""`},
		{"member reads the router's copy", func(r *repo) {
			over(r, "rs0-2").Volumes = []string{"router-keyfile:/run/keyfile:ro"}
		}, "rs0-2: its key copy router-keyfile/keyfile is installed for uid 65532, want 999"},
		{"member starts before the key is there", func(r *repo) {
			delete(over(r, "rs1-1").DependsOn, keyfileInit)
		}, "rs1-1: depends on keyfile-init"},
		{"router without key file", func(r *repo) {
			delete(over(r, routerService).Environment, "MONGOS_LITE_KEYFILE")
		}, "mongos-lite: no --keyfile"},
		{"router key file twice", func(r *repo) {
			over(r, routerService).Command = []string{"serve", "--keyfile", "/run/keyfile/keyfile"}
		}, "key file given 2 times"},
		{"router reads the mongods' copy", func(r *repo) {
			over(r, routerService).Volumes = []string{"mongod-keyfile:/run/keyfile:ro"}
		}, "mongos-lite: its key copy mongod-keyfile/keyfile is installed for uid 999, want 65532"},
		{"router copy owned by mongodb", func(r *repo) {
			cmd := over(r, keyfileInit).Command
			cmd[slices.Index(cmd, "65532:/out/router/keyfile")] = "999:/out/router/keyfile"
		}, "installed for uid 999, want 65532"},
		{"router copy not installed", func(r *repo) {
			over(r, keyfileInit).Command = over(r, keyfileInit).Command[:2]
		}, "keyfile-init does not install /run/keyfile/keyfile (volume router-keyfile)"},
		{"key volume not declared", func(r *repo) { delete(r.keyfile.Volumes, "router-keyfile") }, "volume router-keyfile (mongos-lite's key) is not declared"},
		{"key in a bind mount", func(r *repo) {
			over(r, routerService).Volumes = []string{"./.secrets:/run/keyfile:ro"}
		}, "mongos-lite: key file /run/keyfile/keyfile is in no named volume"},
		{"no keyfile-init", func(r *repo) { delete(r.keyfile.Services, keyfileInit) }, "no keyfile-init service"},
		{"keyfile-init not root", func(r *repo) { over(r, keyfileInit).User = "mongodb" }, `user "mongodb", want root`},
		{"keyfile-init reads another host key", func(r *repo) {
			vols := over(r, keyfileInit).Volumes
			vols[slices.Index(vols, "./.secrets/keyfile:/keyfile.host:ro")] = "./keyfile:/keyfile.host:ro"
		}, "is not the host key ./.secrets/keyfile"},
		{"keyfile-init argument outside its volumes", func(r *repo) {
			over(r, keyfileInit).Command = append(over(r, keyfileInit).Command, "0:/etc/keyfile")
		}, `"0:/etc/keyfile" is not UID:PATH`},
		{"keyfile-init without the install script", func(r *repo) { over(r, keyfileInit).Entrypoint = []string{"sh", "-c", "cp"} }, "want [sh, <./scripts/install-keyfile.sh mounted>]"},
		{"rs-init needs credentials", func(r *repo) {
			r.initScript = strings.Replace(r.initScript, "{ replSetGetStatus: 1 }", "{ replSetGetConfig: 1 }", 1)
		}, "sends replSetGetConfig, which the localhost exception"},
		{"script on another key", func(r *repo) {
			r.script = strings.Replace(r.script, "keyfile='.secrets/keyfile'", "keyfile='key'", 1)
		}, "want keyfile='.secrets/keyfile'"},
		{"script without the override", func(r *repo) {
			r.script = strings.ReplaceAll(r.script, "-f docker-compose.keyfile.yml", "")
		}, "does not use -f docker-compose.keyfile.yml"},
		{"suite not given the key", func(r *repo) {
			r.script = strings.ReplaceAll(r.script, "MONGOS_LITE_IT_KEYFILE=", "KEY=")
		}, "does not use MONGOS_LITE_IT_KEYFILE"},
	}
	checkMutations(t, tests)
}

// mergeCompose follows compose's rules for an override file (docker-compose config agrees).
func TestMergeCompose(t *testing.T) {
	base, err := parseCompose([]byte(`services:
  a:
    image: x
    command: [run, "1"]
    environment: {A: "1", B: "1"}
    depends_on: [n]
    volumes: ["v:/data", "./f:/f:ro"]
  b:
    image: y
volumes: {v: null}
`))
	if err != nil {
		t.Fatal(err)
	}
	over, err := parseCompose([]byte(`services:
  a:
    command: [run, "2"]
    environment: {B: "2", C: "2"}
    depends_on: {i: {condition: service_completed_successfully}}
    volumes: ["w:/f:ro"]
  i:
    image: z
volumes: {w: null}
`))
	if err != nil {
		t.Fatal(err)
	}
	m := mergeCompose(base, over)
	a := m.Services["a"]
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"image kept", a.Image, "x"},
		{"command replaced", a.Command, []string{"run", "2"}},
		{"environment merged", a.Environment, map[string]string{"A": "1", "B": "2", "C": "2"}},
		{"depends_on merged", map[string]string(a.DependsOn), map[string]string{"n": "service_started", "i": "service_completed_successfully"}},
		{"volumes merged by target", a.Volumes, []string{"v:/data", "w:/f:ro"}},
		{"services added", slices.Sorted(maps.Keys(m.Services)), []string{"a", "b", "i"}},
		{"named volumes added", slices.Sorted(maps.Keys(m.Volumes)), []string{"v", "w"}},
		{"base untouched", base.Services["a"].Command, []string{"run", "1"}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
}
