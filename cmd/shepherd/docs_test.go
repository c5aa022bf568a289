// Docs: README's configuration reference names every value the config
// accepts for each enumeration, read from the one list that validates it.
package main

import (
	"os"
	"strings"
	"testing"

	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

func TestReadmeNamesEveryValue(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(data), "\n## Configuration\n")
	section, _, _ = strings.Cut(section, "\n## ")
	if section == "" {
		t.Fatal("README.md has no \"## Configuration\" section")
	}
	for key, values := range map[string][]string{
		"distribution":  ring.Distributions(),
		"ketama_compat": ring.Compats(),
		"hash":          ring.Hashes(),
		"on_eject":      proxy.EjectPolicies,
	} {
		line := keyLines(section, key)
		for _, v := range values {
			if !strings.Contains(line, v) {
				t.Errorf("README Configuration, %s: lacks %q; want every value of the list that validates it", key, v)
			}
		}
	}
}

// keyLines returns the example's line for key and the comment lines
// continuing it.
func keyLines(section, key string) string {
	lines := strings.Split(section, "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), key+":") {
			out := l
			for _, next := range lines[i+1:] {
				if !strings.HasPrefix(strings.TrimSpace(next), "#") {
					break
				}
				out += "\n" + next
			}
			return out
		}
	}
	return ""
}
