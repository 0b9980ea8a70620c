package deploy

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mongos-lite/mongos-lite/shards"
)

// What docker-compose.yml must provide (the issue: two sets of three mongod 8.0 members).
var (
	wantSets      = []string{"rs0", "rs1"}
	wantMembers   = 3
	mongoImage    = "mongo:8.0"
	routerService = "mongos-lite"
	initService   = "rs-init"
	routerPort    = 27017
	initScript    = "scripts/init-replica-sets.js"
)

// composeFile is the part of the compose file the checks read. Commands and entrypoints must be
// lists and environments maps: a shell string would hide the flags from the checks.
type composeFile struct {
	Services map[string]*service `yaml:"services"`
	Volumes  map[string]any      `yaml:"volumes"` // named volumes
}

type service struct {
	Image       string            `yaml:"image"`
	Build       *build            `yaml:"build"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	NetworkMode string            `yaml:"network_mode"`
	DependsOn   dependsOn         `yaml:"depends_on"`
	Volumes     []string          `yaml:"volumes"`
	User        string            `yaml:"user"`
}

type build struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

// UnmarshalYAML accepts both `build: DIR` and `build: {context: DIR, dockerfile: FILE}`.
func (b *build) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
		return nil
	}
	type plain build
	return n.Decode((*plain)(b))
}

// dependsOn maps each dependency to its condition; the list form means service_started.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsOn{}
	if n.Kind == yaml.SequenceNode {
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		for _, name := range names {
			(*d)[name] = "service_started"
		}
		return nil
	}
	var long map[string]struct {
		Condition string `yaml:"condition"`
	}
	if err := n.Decode(&long); err != nil {
		return err
	}
	for name, dep := range long {
		if dep.Condition == "" {
			dep.Condition = "service_started"
		}
		(*d)[name] = dep.Condition
	}
	return nil
}

func parseCompose(data []byte) (*composeFile, error) {
	var f composeFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w (commands and entrypoints must be lists, environments maps)", err)
	}
	return &f, nil
}

// flagValues returns every value of --name in args ("--name v" or "--name=v").
func flagValues(args []string, name string) []string {
	var vals []string
	for i, a := range args {
		switch {
		case a == name && i+1 < len(args):
			vals = append(vals, args[i+1])
		case strings.HasPrefix(a, name+"="):
			vals = append(vals, strings.TrimPrefix(a, name+"="))
		}
	}
	return vals
}

// flagValue returns the single value of --name; more than one is an error.
func flagValue(args []string, name string) (string, error) {
	vals := flagValues(args, name)
	switch len(vals) {
	case 0:
		return "", fmt.Errorf("no %s", name)
	case 1:
		return vals[0], nil
	}
	return "", fmt.Errorf("%s given %d times", name, len(vals))
}

// hasPair reports whether args hold name immediately followed by value.
func hasPair(args []string, name, value string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name && args[i+1] == value {
			return true
		}
	}
	return false
}

// published maps host port → container port for a service's short-syntax ports
// ("[IP:]HOST:CONTAINER[/tcp]").
func published(s *service) (map[int]int, error) {
	out := map[int]int{}
	for _, p := range s.Ports {
		spec := strings.TrimSuffix(p, "/tcp")
		parts := strings.Split(spec, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return nil, fmt.Errorf("port %q: want [IP:]HOST:CONTAINER (a random host port cannot be in a replica set config)", p)
		}
		host, err1 := strconv.Atoi(parts[len(parts)-2])
		container, err2 := strconv.Atoi(parts[len(parts)-1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("port %q: host and container ports must be single numbers", p)
		}
		if _, dup := out[host]; dup {
			return nil, fmt.Errorf("host port %d published twice", host)
		}
		out[host] = container
	}
	return out, nil
}

// namespaceOf is the service whose network namespace s uses.
func namespaceOf(name string, s *service) string {
	if owner, ok := strings.CutPrefix(s.NetworkMode, "service:"); ok {
		return owner
	}
	return name
}

var memberName = regexp.MustCompile(`^(rs[0-9]+)-([0-9]+)$`)

type member struct {
	service string
	index   int
	port    int
}

// checkCompose checks docker-compose.yml's services against each other; files is the
// repository root (for the Dockerfile and the init script).
func checkCompose(f *composeFile, files fs.FS) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if f == nil || f.Services == nil {
		return errors.New("docker-compose.yml has no services")
	}

	// The members: one mongod each, in the set their name says, on a port of their own.
	sets := map[string][]member{}
	for name, s := range f.Services {
		m := memberName.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		set := m[1]
		idx, _ := strconv.Atoi(m[2])
		if s.Image != mongoImage {
			fail("%s: image %q, want %s", name, s.Image, mongoImage)
		}
		if len(s.Command) == 0 || s.Command[0] != "mongod" {
			fail("%s: command %q does not run mongod", name, s.Command)
			continue
		}
		if rs, err := flagValue(s.Command, "--replSet"); err != nil || rs != set {
			fail("%s: --replSet %q (%v), want %s (the set its name says)", name, rs, err, set)
		}
		if !slices.Contains(s.Command, "--bind_ip_all") {
			fail("%s: no --bind_ip_all", name)
		}
		if !hasPair(s.Command, "--setParameter", "enableTestCommands=1") {
			fail("%s: no --setParameter enableTestCommands=1 (the integration suite refuses sets without it)", name)
		}
		p, err := flagValue(s.Command, "--port")
		port, perr := strconv.Atoi(p)
		if err != nil || perr != nil {
			fail("%s: --port %q (%v): each member needs a port of its own in the shared namespace", name, p, err)
			continue
		}
		sets[set] = append(sets[set], member{service: name, index: idx, port: port})
	}
	var gotSets []string
	for set, ms := range sets {
		gotSets = append(gotSets, set)
		slices.SortFunc(ms, func(a, b member) int { return a.index - b.index })
		for i, m := range ms {
			if m.index != i {
				fail("set %s: members %v; want %s-0 to %s-%d", set, serviceNames(ms), set, set, wantMembers-1)
				break
			}
		}
		if len(ms) != wantMembers {
			fail("set %s has %d members, want %d", set, len(ms), wantMembers)
		}
	}
	slices.Sort(gotSets)
	if !slices.Equal(gotSets, wantSets) {
		fail("shard member services form sets %v, want %v", gotSets, wantSets)
	}

	initSvc, router := f.Services[initService], f.Services[routerService]
	if initSvc == nil || router == nil {
		fail("services %s and %s are both needed", initService, routerService)
		return errors.Join(errs...)
	}

	// One network namespace for all: that is what makes localhost:PORT the same member from
	// the other members, the router and the host.
	ns := namespaceOf(routerService, router)
	owner := f.Services[ns]
	for name, s := range f.Services {
		if (memberName.MatchString(name) || name == initService) && namespaceOf(name, s) != ns {
			fail("%s: network namespace %s, want %s's (%s): its localhost must reach every member", name, namespaceOf(name, s), routerService, ns)
		}
	}
	if owner == nil {
		fail("%s: network_mode names service %s, which does not exist", routerService, ns)
		return errors.Join(errs...)
	}
	ports, err := published(owner)
	if err != nil {
		fail("%s: %v", ns, err)
	}
	allPublished := map[int]string{}
	for name, s := range f.Services {
		if name == ns {
			continue
		}
		if len(s.Ports) > 0 && namespaceOf(name, s) != name {
			fail("%s: ports on a service in another's namespace (publish them on %s)", name, namespaceOf(name, s))
		}
		p, _ := published(s)
		for h := range p {
			allPublished[h] = name
		}
	}
	for h := range ports {
		if other, dup := allPublished[h]; dup {
			fail("host port %d published by both %s and %s", h, ns, other)
		}
	}

	// The router's port, then every member's: distinct, and published as themselves.
	listen := map[int]string{}
	rport := routerPort
	if slices.ContainsFunc(router.Command, func(a string) bool { return a == "--port" || strings.HasPrefix(a, "--port=") }) {
		fail("%s: --port on the command line: set MONGOS_LITE_PORT instead, which the image's HEALTHCHECK also reads", routerService)
	}
	if v, ok := router.Environment["MONGOS_LITE_PORT"]; ok {
		if rport, err = strconv.Atoi(v); err != nil {
			fail("%s: MONGOS_LITE_PORT %q is not a number", routerService, v)
		}
	}
	if rport != routerPort {
		fail("%s listens on %d, want %d", routerService, rport, routerPort)
	}
	listen[rport] = routerService
	for _, set := range gotSets {
		for _, m := range sets[set] {
			if other, dup := listen[m.port]; dup {
				fail("%s and %s both listen on port %d", m.service, other, m.port)
				continue
			}
			listen[m.port] = m.service
		}
	}
	for port, who := range listen {
		if c, ok := ports[port]; !ok || c != port {
			fail("%s's port %d is not published by %s as %d:%d (clients on the host use the advertised localhost:%d)", who, port, ns, port, port, port)
		}
	}

	// rs-init initiates exactly the members above, in order, as localhost:PORT.
	want := map[string][]string{}
	for set, ms := range sets {
		for _, m := range ms {
			want[set] = append(want[set], fmt.Sprintf("localhost:%d", m.port))
		}
	}
	initSets, err := parseSetList(initSvc.Environment["SHARD_SETS"])
	if err != nil {
		fail("%s: SHARD_SETS: %v", initService, err)
	}
	if !sameSets(initSets, want, true) {
		fail("%s: SHARD_SETS initiates %v, want the member services' %v", initService, initSets, want)
	}
	run := append(append([]string(nil), initSvc.Entrypoint...), initSvc.Command...)
	if !slices.Contains(run, "mongosh") {
		fail("%s: %q does not run mongosh", initService, run)
	}
	mounted := false
	for _, v := range initSvc.Volumes {
		src, dst, _ := strings.Cut(v, ":")
		dst, _, _ = strings.Cut(dst, ":")
		if src == "./"+initScript && slices.Contains(run, dst) {
			mounted = true
		}
	}
	if !mounted {
		fail("%s: does not run ./%s mounted from the repository", initService, initScript)
	}
	if _, err := fs.Stat(files, initScript); err != nil {
		fail("%s: %v", initScript, err)
	}
	for set, ms := range sets {
		for _, m := range ms {
			if _, ok := initSvc.DependsOn[m.service]; !ok {
				fail("%s: does not depend on %s (set %s)", initService, m.service, set)
			}
		}
	}

	// The router: built from the Dockerfile, serving exactly those sets once they are initiated.
	if router.Build == nil || (router.Build.Context != "." && router.Build.Context != "./") {
		fail("%s: not built from the repository root", routerService)
	} else {
		df := router.Build.Dockerfile
		if df == "" {
			df = "Dockerfile"
		}
		if df != "Dockerfile" {
			fail("%s: built from %s, want Dockerfile", routerService, df)
		}
	}
	if len(router.Command) == 0 || router.Command[0] != "serve" {
		fail("%s: command %q, want serve ...", routerService, router.Command)
	}
	if b, err := flagValue(router.Command, "--bind"); err != nil || b != "0.0.0.0" {
		fail("%s: --bind %q (%v), want 0.0.0.0", routerService, b, err)
	}
	routed := map[string][]string{}
	for _, spec := range flagValues(router.Command, "--shard") {
		cfg, err := shards.ParseSpec(spec)
		if err != nil {
			fail("%s: %v", routerService, err)
			continue
		}
		if _, dup := routed[cfg.SetName]; dup {
			fail("%s: set %s given twice with --shard", routerService, cfg.SetName)
		}
		routed[cfg.SetName] = cfg.Hosts
	}
	if !sameSets(routed, want, false) {
		fail("%s: --shard flags name %v, want the member services' %v", routerService, routed, want)
	}
	if cond := router.DependsOn[initService]; cond != "service_completed_successfully" {
		fail("%s: depends on %s with %q, want service_completed_successfully", routerService, initService, cond)
	}
	return errors.Join(errs...)
}

func serviceNames(ms []member) []string {
	var names []string
	for _, m := range ms {
		names = append(names, m.service)
	}
	return names
}

// parseSetList parses "rs0/h:p,h:p;rs1/..." (SHARD_SETS, MONGOS_LITE_IT_SHARDS).
func parseSetList(v string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, entry := range strings.Split(v, ";") {
		if entry == "" {
			continue
		}
		set, hosts, ok := strings.Cut(entry, "/")
		if !ok || set == "" || hosts == "" {
			return nil, fmt.Errorf("entry %q: want SET/host:port,...", entry)
		}
		if _, dup := out[set]; dup {
			return nil, fmt.Errorf("set %s named twice", set)
		}
		out[set] = strings.Split(hosts, ",")
	}
	if len(out) == 0 {
		return nil, errors.New("names no set")
	}
	return out, nil
}

// sameSets compares set → hosts maps; ordered says whether host order matters (it does for a
// replica set config, where it fixes the member _ids; not for a seed list).
func sameSets(a, b map[string][]string, ordered bool) bool {
	if len(a) != len(b) {
		return false
	}
	for set, ha := range a {
		hb, ok := b[set]
		if !ok {
			return false
		}
		if !ordered {
			ha, hb = slices.Sorted(slices.Values(ha)), slices.Sorted(slices.Values(hb))
		}
		if !slices.Equal(ha, hb) {
			return false
		}
	}
	return true
}
