// Command mutants summarises gremlins' JSON results per package and checks
// every surviving mutant against the list of known equivalent ones.
//
//	go run ./scripts/mutants -equivalent scripts/mutants/equivalent.txt out/mutate/*.json
//
// It prints one Markdown table row per package and exits non-zero when a
// mutant lived that the list does not name, or when a list entry no longer
// matches any surviving mutant (so the list stays true).
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
	flag.Parse()
	eqs, err := readList(*list)
	if err != nil {
		fail(err)
	}
	fmt.Println("| package | killed | lived (equivalent) | not covered | timed out | efficacy | mutator coverage |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	bad := 0
	ran := map[string]bool{}
	for _, path := range flag.Args() {
		ran[strings.TrimSuffix(filepath.Base(path), ".json")] = true
		n, err := report(path, eqs)
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
func report(path string, eqs []*equivalent) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	pkg := strings.TrimSuffix(filepath.Base(path), ".json")
	count := map[string]int{}
	equiv, unlisted := 0, 0
	for _, f := range r.Files {
		file := filepath.Join(pkg, f.Name)
		for _, m := range f.Mutations {
			count[m.Status]++
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
	fmt.Printf("| %s | %d | %d (%d) | %d | %d | %s | %s |\n", pkg, killed, lived, equiv,
		count["NOT COVERED"], count["TIMED OUT"],
		pct(killed, killed+lived), pct(killed+lived, killed+lived+count["NOT COVERED"]))
	return unlisted, nil
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
