// The Grafana dashboard in configs/ names shepherd's metrics by hand; this
// test holds it to the names proxy/ registers, so that the two cannot drift.
package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

const dashboardFile = "../../configs/grafana-dashboard.json"

// dashboard is the part of Grafana's dashboard model the test reads.
type dashboard struct {
	SchemaVersion int    `json:"schemaVersion"`
	UID           string `json:"uid"`
	Title         string `json:"title"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []dashPanel `json:"panels"`
}

type dashPanel struct {
	ID         int          `json:"id"`
	Type       string       `json:"type"`
	Title      string       `json:"title"`
	Datasource *datasource  `json:"datasource"`
	GridPos    *gridPos     `json:"gridPos"`
	Targets    []dashTarget `json:"targets"`
	Panels     []dashPanel  `json:"panels"` // a collapsed row's panels
}

type dashTarget struct {
	Expr         string      `json:"expr"`
	LegendFormat string      `json:"legendFormat"`
	RefID        string      `json:"refId"`
	Datasource   *datasource `json:"datasource"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type gridPos struct{ H, W, X, Y int }

const dsVar = "${DS_PROMETHEUS}"

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels flattens rows.
func allPanels(ps []dashPanel) []dashPanel {
	var out []dashPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// sourceNames is what proxy/ registers: metric names, name templates
// (prefix + a map key + suffix, as registerHerd builds them) and labels.
type sourceNames struct {
	metrics   map[string]bool
	templates []nameTemplate
	labels    map[string]bool
}

type nameTemplate struct {
	prefix, suffix string
	middles        map[string]bool // the quoted words of the file that builds the names
}

var (
	metricLiteral  = regexp.MustCompile(`"(shepherd_[a-z0-9_]+)"`)
	metricTemplate = regexp.MustCompile(`"(shepherd_[a-z0-9_]*_)"\s*\+\s*\w+\s*\+\s*"(_[a-z0-9_]+)"`)
	quotedWord     = regexp.MustCompile(`"([a-z][a-z0-9_]*)"`)
	constLabels    = regexp.MustCompile(`Labels\{([^}]*)\}`)
	labelKey       = regexp.MustCompile(`"([a-z_][a-z0-9_]*)"\s*:`)
	vecLabels      = regexp.MustCompile(`\},\s*\[\]string\{([^}]*)\}\)`)
)

func readSource(t *testing.T) sourceNames {
	t.Helper()
	files, err := filepath.Glob("../../proxy/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("proxy sources: %v, %d files", err, len(files))
	}
	s := sourceNames{metrics: map[string]bool{}, labels: map[string]bool{}}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue // a name in a test registers nothing
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		for _, m := range metricLiteral.FindAllStringSubmatch(src, -1) {
			s.metrics[m[1]] = true
		}
		for _, m := range metricTemplate.FindAllStringSubmatch(src, -1) {
			tpl := nameTemplate{prefix: m[1], suffix: m[2], middles: map[string]bool{}}
			for _, w := range quotedWord.FindAllStringSubmatch(src, -1) {
				tpl.middles[w[1]] = true
			}
			s.templates = append(s.templates, tpl)
		}
		for _, m := range constLabels.FindAllStringSubmatch(src, -1) {
			for _, k := range labelKey.FindAllStringSubmatch(m[1], -1) {
				s.labels[k[1]] = true
			}
		}
		for _, m := range vecLabels.FindAllStringSubmatch(src, -1) {
			for _, k := range quotedWord.FindAllStringSubmatch(m[1], -1) {
				s.labels[k[1]] = true
			}
		}
	}
	if len(s.metrics) == 0 || len(s.labels) == 0 {
		t.Fatalf("found no metric names (%d) or labels (%d) in proxy/*.go: has registration moved?", len(s.metrics), len(s.labels))
	}
	return s
}

// has reports whether proxy/ registers the series name, histogram series
// (_bucket, _sum, _count) included.
func (s sourceNames) has(name string) bool {
	if s.metrics[name] {
		return true
	}
	for _, tpl := range s.templates {
		mid, ok := strings.CutPrefix(name, tpl.prefix)
		if mid, ok2 := strings.CutSuffix(mid, tpl.suffix); ok && ok2 && tpl.middles[mid] {
			return true
		}
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok && s.metrics[base] {
			return true
		}
	}
	return false
}

var (
	metricRef   = regexp.MustCompile(`\bshepherd_[a-zA-Z0-9_:]+`)
	rateOf      = regexp.MustCompile(`\b(rate|irate|increase)\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)
	byClause    = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	matcher     = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
	legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
)

// Labels Prometheus adds (instance, job) or histograms carry (le).
var promLabels = map[string]bool{"instance": true, "job": true, "le": true}

func TestDashboardMetricsExist(t *testing.T) {
	t.Parallel()
	d := loadDashboard(t)
	src := readSource(t)
	used := map[string]bool{}
	checkExpr := func(where, expr string) {
		t.Helper()
		names := metricRef.FindAllString(expr, -1)
		if len(names) == 0 {
			t.Errorf("%s: %q names no shepherd_ metric", where, expr)
		}
		for _, n := range names {
			used[n] = true
			if !src.has(n) {
				t.Errorf("%s: metric %s is not registered in proxy/*.go", where, n)
			}
		}
		for _, m := range rateOf.FindAllStringSubmatch(expr, -1) {
			if n := m[2]; !strings.HasSuffix(n, "_total") && !strings.HasSuffix(n, "_bucket") && !strings.HasSuffix(n, "_count") && !strings.HasSuffix(n, "_sum") {
				t.Errorf("%s: %s(%s): got a gauge; want a counter", where, m[1], n)
			}
		}
		var labels []string
		for _, m := range byClause.FindAllStringSubmatch(expr, -1) {
			for _, l := range strings.Split(m[1], ",") {
				labels = append(labels, strings.TrimSpace(l))
			}
		}
		for _, m := range matcher.FindAllStringSubmatch(expr, -1) {
			labels = append(labels, m[1])
		}
		for _, l := range labels {
			if l != "" && !src.labels[l] && !promLabels[l] {
				t.Errorf("%s: label %q is not one proxy/*.go sets", where, l)
			}
		}
		if !balanced(expr) {
			t.Errorf("%s: unbalanced brackets or quotes in %q", where, expr)
		}
	}

	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok && v.Type == "query" {
			checkExpr("variable "+v.Name, q["query"].(string))
		}
	}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			where := "panel " + strings.TrimSpace(p.Title+" "+tg.RefID)
			checkExpr(where, tg.Expr)
			for _, m := range legendLabel.FindAllStringSubmatch(tg.LegendFormat, -1) {
				if !src.labels[m[1]] && !promLabels[m[1]] {
					t.Errorf("%s: legend label {{%s}} is not one proxy/*.go sets", where, m[1])
				}
			}
		}
	}
	if len(used) == 0 {
		t.Fatal("the dashboard uses no metric")
	}
	// Not an error (a new metric need not be charted), but worth a look.
	var unused []string
	for n := range src.metrics {
		if !used[n] && !used[n+"_bucket"] && !strings.HasSuffix(n, "_") {
			unused = append(unused, n)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Logf("metrics registered in proxy/ and not charted: %v", unused)
	}
}

// TestDashboardShape checks what Grafana needs to import the file: the
// datasource variable every panel uses, unique panel ids and a grid that
// fits 24 columns.
func TestDashboardShape(t *testing.T) {
	t.Parallel()
	d := loadDashboard(t)
	if d.SchemaVersion < 36 || d.SchemaVersion > 41 {
		t.Errorf("schemaVersion %d; want about 39 (Grafana 10/11)", d.SchemaVersion)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q; want both set", d.UID, d.Title)
	}
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Name == "DS_PROMETHEUS" {
			hasDS = v.Type == "datasource" && v.Query == "prometheus"
		}
	}
	if !hasDS {
		t.Errorf("templating: want a datasource variable DS_PROMETHEUS of type prometheus")
	}
	ids := map[int]string{}
	charts := 0
	for _, p := range allPanels(d.Panels) {
		if prev, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %q: id %d (also %q); want unique, non-zero ids", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		if g := p.GridPos; g == nil || g.W < 1 || g.H < 1 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v; want it within 24 columns", p.Title, g)
		}
		if p.Type == "row" {
			continue
		}
		charts++
		if p.Title == "" || len(p.Targets) == 0 {
			t.Errorf("panel %d: title %q, %d queries; want a title and a query", p.ID, p.Title, len(p.Targets))
		}
		if p.Datasource == nil || p.Datasource.UID != dsVar || p.Datasource.Type != "prometheus" {
			t.Errorf("panel %q: datasource %+v; want prometheus %s", p.Title, p.Datasource, dsVar)
		}
		var refs []string
		for _, tg := range p.Targets {
			if tg.Datasource != nil && tg.Datasource.UID != dsVar {
				t.Errorf("panel %q query %s: datasource %+v; want %s", p.Title, tg.RefID, tg.Datasource, dsVar)
			}
			if tg.RefID == "" || slices.Contains(refs, tg.RefID) {
				t.Errorf("panel %q: refId %q; want unique and set", p.Title, tg.RefID)
			}
			refs = append(refs, tg.RefID)
		}
	}
	if charts < 10 {
		t.Errorf("%d panels; want the overview, backend and herd panels", charts)
	}
}

// balanced is a light syntax check of a PromQL expression: brackets nest
// and close, quotes close.
func balanced(expr string) bool {
	var stack []rune
	pair := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inQuote := false
	for i, r := range expr {
		switch {
		case inQuote:
			if r == '"' && (i == 0 || expr[i-1] != '\\') {
				inQuote = false
			}
		case r == '"':
			inQuote = true
		case r == '(' || r == '[' || r == '{':
			stack = append(stack, r)
		case pair[r] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pair[r] {
				return false
			}
			stack = stack[:len(stack)-1]
		}
	}
	return !inQuote && len(stack) == 0
}
