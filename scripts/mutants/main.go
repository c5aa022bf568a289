// Command mutants summarises gremlins' JSON results per package and checks
// every surviving mutant against the list of known equivalent ones.
//
//	go run ./scripts/mutants -equivalent scripts/mutants/equivalent.txt out/mutate/*.json
//
// It prints one Markdown table row per package and exits non-zero when a
// mutant lived that the list does not name, or when a list entry no longer
// matches any surviving mutant (so the list stays true). Mutator coverage
// is gremlins' (killed and lived over all but timed out); "of statements"
// leaves out the mutants no coverage profile can mark as run: those in a
// switch's case expressions and in constant declarations, which Go's
// cover tool puts in no block.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// result is the part of gremlins' -o output this command reads.
type result struct {
	Files []struct {
		Name      string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
		} `json:"mutations"`
	} `json:"files"`
}

// equivalent is one line of the list: a mutant named by file, type and
// the text of its source line, and why no test can kill it.
type equivalent struct {
	file, typ, line, reason string
	used                    bool
}

func main() {
	list := flag.String("equivalent", "scripts/mutants/equivalent.txt", "known equivalent mutants")
	root := flag.String("root", "out/mutate", "where the results are, one pkg/path.json per package")
	flag.Parse()
	eqs, err := readList(*list)
	if err != nil {
		fail(err)
	}
	fmt.Println("| package | killed | lived (equivalent) | not covered (in case or const) | timed out | efficacy | mutator coverage | of statements |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- |")
	bad := 0
	ran := map[string]bool{}
	for _, path := range flag.Args() {
		pkg := pkgOf(*root, path)
		ran[pkg] = true
		n, err := report(path, pkg, eqs)
		if err != nil {
			fail(err)
		}
		bad += n
	}
	for _, e := range eqs {
		if !e.used && ran[filepath.Dir(e.file)] {
			fmt.Fprintf(os.Stderr, "mutants: listed as equivalent but not among the survivors: %s %s %q\n", e.file, e.typ, e.line)
			bad++
		}
	}
	if bad > 0 {
		fail(fmt.Errorf("%d problem(s): kill each new survivor with a test or list it with a reason in %s", bad, *list))
	}
}

// report prints one package's row and returns how many survivors are not
// listed as equivalent.
func report(path, pkg string, eqs []*equivalent) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	count := map[string]int{}
	equiv, unlisted, unseeable := 0, 0, 0
	for _, f := range r.Files {
		file := filepath.Join(pkg, f.Name)
		for _, m := range f.Mutations {
			count[m.Status]++
			if m.Status == "NOT COVERED" {
				if blind, err := outsideBlocks(file, m.Line); err != nil {
					return 0, err
				} else if blind {
					unseeable++
				}
			}
			if m.Status != "LIVED" {
				continue
			}
			text, err := sourceLine(file, m.Line)
			if err != nil {
				return 0, err
			}
			if e := find(eqs, file, m.Type, text); e != nil {
				e.used = true
				equiv++
				continue
			}
			unlisted++
			fmt.Fprintf(os.Stderr, "mutants: %s:%d %s lived: %s\n", file, m.Line, m.Type, text)
		}
	}
	killed, lived := count["KILLED"], count["LIVED"]
	nc := count["NOT COVERED"]
	fmt.Printf("| %s | %d | %d (%d) | %d (%d) | %d | %s | %s | %s |\n", pkg, killed, lived, equiv,
		nc, unseeable, count["TIMED OUT"],
		pct(killed, killed+lived), pct(killed+lived, killed+lived+nc), pct(killed+lived, killed+lived+nc-unseeable))
	return unlisted, nil
}

// pkgOf is the package a results file is for: its path below root
// without .json ("out/mutate/proxy/backend.json" is proxy/backend), or
// its base name when it is not below root.
func pkgOf(root, path string) string {
	rel, err := filepath.Rel(root, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = filepath.Base(path)
	}
	return filepath.ToSlash(strings.TrimSuffix(rel, ".json"))
}

func find(eqs []*equivalent, file, typ, text string) *equivalent {
	for _, e := range eqs {
		if e.file == file && e.typ == typ && e.line == text {
			return e
		}
	}
	return nil
}

func pct(a, b int) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
}

// outsideBlocks reports whether line n of file is one no coverage block
// holds: a switch's case clause, or a line of a constant declaration.
func outsideBlocks(file string, n int) (bool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return false, err
	}
	lines := strings.Split(string(b), "\n")
	if n < 1 || n > len(lines) {
		return false, fmt.Errorf("%s has no line %d", file, n)
	}
	l := strings.TrimSpace(lines[n-1])
	if strings.HasPrefix(l, "case ") || strings.HasPrefix(l, "const ") {
		return true, nil
	}
	for i := n - 1; i >= 0; i-- { // inside "const (" ... ")"?
		switch t := strings.TrimRight(lines[i], " \t"); {
		case t == "const (":
			return true, nil
		case t == ")" || strings.HasPrefix(t, "func ") || t == "var (" || t == "import (":
			return false, nil
		}
	}
	return false, nil
}

// sourceLine returns line n of file, trimmed.
func sourceLine(file string, n int) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	lines := strings.Split(string(b), "\n")
	if n < 1 || n > len(lines) {
		return "", fmt.Errorf("%s has no line %d", file, n)
	}
	return strings.TrimSpace(lines[n-1]), nil
}

// readList reads "file<TAB>type<TAB>source line<TAB>reason" lines; blank
// lines and lines starting with # are skipped.
func readList(path string) ([]*equivalent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var eqs []*equivalent
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		p := strings.Split(l, "\t")
		if len(p) != 4 || strings.TrimSpace(p[3]) == "" {
			return nil, fmt.Errorf("%s:%d: want file, type, source line and reason separated by tabs", path, n)
		}
		eqs = append(eqs, &equivalent{file: p[0], typ: p[1], line: strings.TrimSpace(p[2]), reason: p[3]})
	}
	return eqs, sc.Err()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mutants:", err)
	os.Exit(1)
}
