package router

import (
	"os"
	"strings"
	"testing"

	"github.com/mongos-lite/mongos-lite/auth"
)

// TestCommandsDocumented: docs/commands.md lists every command the router answers or routes
// itself and every command whose authorization it knows.
func TestCommandsDocumented(t *testing.T) {
	data, err := os.ReadFile("../docs/commands.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, name := range strings.Split(first, ",") {
			documented[strings.Trim(strings.TrimSpace(name), "`")] = true
		}
	}
	names := auth.Commands()
	for name := range handlers {
		names = append(names, name)
	}
	for _, name := range names {
		if !documented[name] {
			t.Errorf("%s is not in docs/commands.md", name)
		}
	}
}
