package command

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestGenericTableDocumented checks docs/generic-arguments.md against the code's table: the same
// arguments, dispositions, needed actions and refusal codes.
func TestGenericTableDocumented(t *testing.T) {
	data, err := os.ReadFile("../../docs/generic-arguments.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		documented[name] = []string{strings.TrimSpace(cells[2]), strings.TrimSpace(cells[3]), strings.TrimSpace(cells[4])}
	}
	for _, a := range Arguments() {
		row, ok := documented[a.Name]
		if !ok {
			t.Errorf("%s is not in docs/generic-arguments.md", a.Name)
			continue
		}
		delete(documented, a.Name)
		if row[0] != a.Disposition.String() || row[1] != a.Needs {
			t.Errorf("%s: documented %s/%q, code %s/%q", a.Name, row[0], row[1], a.Disposition, a.Needs)
		}
		if a.Refusal != nil {
			if code := strings.Fields(row[2] + " ")[0]; code != strconv.Itoa(int(a.Refusal.Code)) {
				t.Errorf("%s: documented refusal %q, code %d", a.Name, row[2], a.Refusal.Code)
			}
		} else if row[2] != "" {
			t.Errorf("%s: documented refusal %q, none in the code", a.Name, row[2])
		}
	}
	for name := range documented {
		t.Errorf("%s is documented but not in the table", name)
	}
}
