package shards

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ParseSpec parses a shard given on the command line or in a config file:
// "NAME=RSNAME/host:port,host:port". Every host needs an explicit port, so a typo does not
// silently become the default 27017. Only the names and hosts are set; the pool and timeout
// knobs are left zero (driver defaults) for the caller to fill in.
func ParseSpec(spec string) (Config, error) {
	fail := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("shard spec %q: %s (want NAME=RSNAME/host:port,host:port)", spec, fmt.Sprintf(format, args...))
	}
	name, rest, ok := strings.Cut(spec, "=")
	if !ok {
		return fail(`missing "=" after the shard name`)
	}
	if err := checkName(name); err != nil {
		return fail("shard name %v", err)
	}
	setName, hostList, ok := strings.Cut(rest, "/")
	if !ok {
		return fail(`missing "/" after the replica set name`)
	}
	if err := checkName(setName); err != nil {
		return fail("replica set name %v", err)
	}
	if hostList == "" {
		return fail("no hosts")
	}
	hosts := strings.Split(hostList, ",")
	seen := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		if err := checkHost(h); err != nil {
			return fail("host %q: %v", h, err)
		}
		if seen[h] {
			return fail("host %q listed twice", h)
		}
		seen[h] = true
	}
	return Config{Name: name, SetName: setName, Hosts: hosts}, nil
}

// checkName rejects names that would be ambiguous in a spec, a log line or a connection string.
func checkName(s string) error {
	if s == "" {
		return fmt.Errorf("is empty")
	}
	if i := strings.IndexFunc(s, func(r rune) bool {
		return r <= ' ' || r == '/' || r == ',' || r == '=' || r == 0x7f
	}); i >= 0 {
		return fmt.Errorf("%q contains %q", s, s[i])
	}
	return nil
}

func checkHost(h string) error {
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("empty host name")
	}
	if strings.ContainsAny(host, " \t/") {
		return fmt.Errorf("invalid host name %q", host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number in [1, 65535]", port)
	}
	return nil
}
