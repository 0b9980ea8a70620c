package deploy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, USER, ...
	args string
}

func parseDockerfile(text string) []instruction {
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasPrefix(trimmed, "#") { // a comment inside a continued instruction
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// checkDockerfile wants a multi-stage build of a static, version-stamped binary and a runtime
// stage that runs it as a non-root user, exposes 27017 and health-checks itself.
func checkDockerfile(text string) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf("Dockerfile: "+format, args...)) }
	var stages [][]instruction
	for _, in := range parseDockerfile(text) {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	if len(stages) < 2 {
		fail("%d stage(s), want a build stage and a runtime stage", len(stages))
		return errors.Join(errs...)
	}
	build, runtime := stages[:len(stages)-1], stages[len(stages)-1]

	static := false
	for _, stage := range build {
		cgoOff := false
		for _, in := range stage {
			if in.cmd == "ENV" && strings.Contains(in.args, "CGO_ENABLED=0") {
				cgoOff = true
			}
			if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
				continue
			}
			if !cgoOff && !strings.Contains(in.args, "CGO_ENABLED=0") {
				fail("go build without CGO_ENABLED=0: the binary would need libc")
			}
			for _, want := range []string{"-trimpath", "-X main.version="} {
				if !strings.Contains(in.args, want) {
					fail("go build without %s", want)
				}
			}
			static = true
		}
	}
	if !static {
		fail("no RUN ... go build in a build stage")
	}

	var user, health, expose, entrypoint string
	for _, in := range runtime {
		switch in.cmd {
		case "USER":
			user = in.args
		case "HEALTHCHECK":
			health = in.args
		case "EXPOSE":
			expose += " " + in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "RUN":
			fail("RUN in the runtime stage: the runtime image has no shell")
		}
	}
	name, _, _ := strings.Cut(user, ":")
	switch name {
	case "":
		fail("no USER in the runtime stage: the router would run as root")
	case "root", "0":
		fail("USER %s: the router must not run as root", user)
	}
	if health == "" || strings.EqualFold(strings.TrimSpace(health), "NONE") {
		fail("no HEALTHCHECK in the runtime stage")
	} else if !strings.Contains(health, `"healthcheck"`) {
		fail("HEALTHCHECK %s does not run `mongos-lite healthcheck` (there is no shell to run anything else)", health)
	}
	if !slices.ContainsFunc(strings.Fields(expose), func(p string) bool { return p == "27017" || p == "27017/tcp" }) {
		fail("runtime stage does not EXPOSE 27017")
	}
	if !strings.Contains(entrypoint, "mongos-lite") {
		fail("ENTRYPOINT %q does not run mongos-lite", entrypoint)
	}
	return errors.Join(errs...)
}
