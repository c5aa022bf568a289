// Report tests: the page is self-contained, and it renders in headless
// Chromium without a single console error (a screenshot is kept).
package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// sampleReport has every section, with series shaped like a real run's.
func sampleReport() *Report {
	series := func(n int, ops float64) []Sample {
		out := make([]Sample, n)
		for i := range out {
			out[i] = Sample{T: float64(i) * 0.25, Ops: ops + float64(i%3)*100, P50: 80, P99: 300 + float64(i*10), Max: 900, Hits: ops * 0.9, Misses: ops * 0.1}
		}
		return out
	}
	sum := Summary{Count: 1000, Mean: 100, P50: 80, P90: 200, P99: 300, P999: 900, Max: 1500}
	tp := &ThroughputResult{Targets: []string{TargetDirect, TargetShepherd, TargetNutcracker}}
	for i, label := range []string{"c=1", "c=8", "mget=100 c=4"} {
		for j, t := range tp.Targets {
			tp.Points = append(tp.Points, Point{Label: label, Target: t, Connections: 1, Pipeline: 1, MultiGet: 1, Start: float64(i*3+j) * 1.2,
				Seconds: 1, Ops: 10000, OpsPerSec: 10000 / float64(j+1), Latency: sum, Ratio: 1 / float64(j+1), P99Ratio: float64(j + 1), Series: series(4, 10000/float64(j+1)),
				Cost: &ProcCost{Processes: 1, CPUus: 12345.6, Syscalls: 123456.78, CtxSwitches: 4.5, CPUUtil: 0.5}})
		}
	}
	tp.Idle = []IdleCost{{Target: TargetShepherd, Connections: 3000, Opened: 3000, RSSBefore: 16000, RSSAfter: 70000, KiBPerConn: 18},
		{Target: TargetNutcracker, Connections: 3000, Opened: 10, RSSBefore: 16000, RSSAfter: 16700, KiBPerConn: 0.2, Error: "only 10 of 3000 connections answered"}}
	herd := &HerdResult{Key: "hot:item", Clients: 400, Shepherds: 4}
	for i, mode := range []string{HerdOff, HerdOn, HerdOrigin} {
		fills := []FillRate{{T: 0}, {T: 1, Clients: float64(400 / (i*100 + 1))}, {T: 2}}
		herd.Modes = append(herd.Modes, HerdMode{Mode: mode, Active: i > 0, Describe: "<b>not html</b>", Invalidations: 2, Misses: 800, Fills: 800,
			Storms: []HerdStorm{{At: 1, Misses: 400, Fills: 400}}, StormLatency: sum, Latency: sum, Series: series(12, 5000), FillSeries: fills,
			Events: []Event{{T: 1, Label: "delete hot:item"}}})
	}
	fo := &FailoverResult{}
	yes, no := true, false
	for _, v := range []string{FaultStop, FaultKill} {
		run := FailoverRun{Variant: v, FaultAt: 1, ReturnAt: 2}
		for _, t := range []string{TargetShepherd, TargetNutcracker} {
			run.Targets = append(run.Targets, FailoverTarget{Target: t, Node: "127.0.0.1:1", Ops: 100, Latency: sum, Ejected: 0.1, Readmitted: -1, NodeHitsInFault: -1,
				Series: series(12, 1000), NodeSeries: []NodeSample{{T: 0.5, Rate: 300, Ejected: &no}, {T: 1.2, Rate: -1, Ejected: &yes}, {T: 1.5, Rate: -1, Ejected: &yes}, {T: 2.5, Rate: 300, Ejected: &no}},
				Events: []Event{{T: 1, Target: t, Label: "fault: stop"}, {T: 1.1, Target: t, Label: "ejected"}, {T: 2, Target: t, Label: "return"}}})
		}
		fo.Runs = append(fo.Runs, run)
	}
	cm := &CommentsResult{Posts: 20000, Threads: 200, Clients: 8, HerdRule: true, Seconds: 3, Requests: 900, RequestsPerSec: 300,
		DBQueries: 300, QueriesPerReq: 0.33, ZeroQueryReads: 0.8, CacheOps: 4500, CacheOpsPerReq: 5, Latency: sum,
		Herd: &CommentsHerd{OriginFills: 100, StaleServed: 10, QueriesWithFills: 0.45}, Series: series(12, 300)}
	for i, kind := range reqKindNames {
		cm.Kinds = append(cm.Kinds, CommentsKind{Kind: kind, Requests: int64(800 / (i + 1)), QueriesPerReq: float64(i), Latency: sum, Series: series(12, 300/float64(i+1))})
	}
	for i := range 12 {
		cm.CostSeries = append(cm.CostSeries, CostSample{T: float64(i) * 0.25, Queries: 100, CacheOps: 1500})
	}
	rb := &RebalanceResult{Runs: []RebalanceRun{{Change: ChangeAdd, From: 3, To: 4, Method: "restart", Keys: 100, ExpectedMoved: 0.25, MeasuredMoved: 0.25, ChangeAt: 1, Series: series(12, 2000)}}}
	return &Report{Schema: SchemaVersion, Started: time.Now(), Env: EnvInfo{CPUs: 2}, Notes: []string{"a note </script><script>alert(1)</script>"},
		Results: []*Result{
			{Name: "throughput", Kind: KindThroughput, Throughput: tp, Features: &Features{HealthConfig: true}},
			{Name: "herd", Kind: KindHerd, Herd: herd},
			{Name: "failover", Kind: KindFailover, Failover: fo},
			{Name: "rebalance", Kind: KindRebalance, Rebalance: rb},
			{Name: "comments", Kind: KindComments, Comments: cm},
			{Name: "skipped", Kind: KindComments, Skipped: "not inside the shepherd module"},
			{Name: "broken", Kind: KindHerd, Error: "something failed"},
		}}
}

func TestReportSelfContained(t *testing.T) {
	t.Parallel()
	page, err := sampleReport().HTML()
	if err != nil {
		t.Fatal(err)
	}
	page = bytes.ReplaceAll(page, []byte(`"http://www.w3.org/2000/svg"`), nil) // a namespace name, never fetched
	for _, bad := range []string{"http://", "https://", "<link", "src=", "@import"} {
		if bytes.Contains(page, []byte(bad)) {
			t.Errorf("page contains %q; want no external reference", bad)
		}
	}
	if bytes.Contains(page, []byte("<script>alert(1)")) || bytes.Contains(page, []byte("<b>not html</b>")) {
		t.Error("report text was not escaped")
	}
}

// chromium finds a headless browser, or "" when none is installed.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func TestReportInChromium(t *testing.T) {
	t.Parallel()
	browser := chromium()
	if browser == "" {
		t.Skip("chromium not installed: apt-get install -y chromium chromium-driver (CI should install it)")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := sampleReport().WriteHTML(page); err != nil {
		t.Fatal(err)
	}
	shot, facts := screenshot(t, browser, page)
	checkPage(t, facts)
	out := os.Getenv("HERDBENCH_SCREENSHOT")
	if out == "" {
		out = filepath.Join(dir, "report.png")
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(shot) < 10000 {
		t.Fatalf("screenshot: got %d bytes; want a rendered page", len(shot))
	}
}

// TestScreenshotFile screenshots the page named by HERDBENCH_REPORT into
// HERDBENCH_REPORT.png, to look at a real run's report.
func TestScreenshotFile(t *testing.T) {
	page, browser := os.Getenv("HERDBENCH_REPORT"), chromium()
	if page == "" || browser == "" {
		t.Skip("set HERDBENCH_REPORT=path/to/report.html (and install chromium) to screenshot a report")
	}
	abs, _ := filepath.Abs(page)
	shot, _ := screenshot(t, browser, abs)
	if err := os.WriteFile(abs+".png", shot, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pageFacts is what the rendered page shows, read in the browser.
type pageFacts struct {
	Sections []string `json:"sections"` // each result's h2 text
	Rows     []int    `json:"rows"`     // rows of each table, header included
	Charts   []int    `json:"charts"`   // drawn charts (with lines) under each result
	Titles   []string `json:"titles"`   // every chart's title
	Errors   []string `json:"errors"`   // error and skipped notes
	Clipped  []int    `json:"clipped"`  // tables cut off: past the window's right edge, or wider than their box without a scroll bar
}

const pageFactsJS = `(() => ({
  sections: [...document.querySelectorAll("h2")].map(h => h.firstChild.textContent.trim()),
  rows: [...document.querySelectorAll("table")].map(t => t.rows.length),
  charts: [...document.querySelectorAll(".charts")].map(c =>
    [...c.querySelectorAll(".chart")].filter(ch => ch.querySelector("svg path")).length),
  titles: [...document.querySelectorAll(".chart .title")].map(e => e.textContent),
  errors: [...document.querySelectorAll(".error, .skipped")].map(e => e.textContent),
  clipped: [...document.querySelectorAll("table")].map((t, i) => [t, i]).filter(([t]) =>
    t.getBoundingClientRect().right > document.documentElement.clientWidth + 1 ||
    (t.scrollWidth > t.clientWidth + 1 && !["auto", "scroll"].includes(getComputedStyle(t).overflowX))).map(([, i]) => i),
}))()`

// checkPage compares the rendered sample report with sampleReport: every
// result has its section, every table its rows, every result with data
// its drawn charts.
func checkPage(t *testing.T, f pageFacts) {
	t.Helper()
	want := []string{"throughput", "herd", "failover", "rebalance", "comments", "skipped", "broken"}
	if !slices.Equal(f.Sections, want) {
		t.Errorf("sections: got %q; want %q", f.Sections, want)
	}
	// Throughput 3 points × 3 targets, its idle costs 2 targets, herd 3 modes, failover 2 faults × 2
	// targets, rebalance 1 run, comments 3 kinds + "all", comments herd 1;
	// each plus its header row.
	wantRows := []int{10, 3, 4, 5, 2, len(reqKindNames) + 2, 2}
	if !slices.Equal(f.Rows, wantRows) {
		t.Errorf("table rows: got %v; want %v", f.Rows, wantRows)
	}
	if len(f.Charts) != len(want) {
		t.Fatalf("chart areas: got %d; want one per result (%d)", len(f.Charts), len(want))
	}
	for i, n := range f.Charts[:5] {
		if n == 0 {
			t.Errorf("result %q: no drawn chart; want at least one", want[i])
		}
	}
	if got := f.Charts[5] + f.Charts[6]; got != 0 {
		t.Errorf("skipped and failed results: got %d charts; want none", got)
	}
	for _, title := range f.Titles {
		if strings.TrimSpace(title) == "" {
			t.Errorf("a chart without a title (titles %q)", f.Titles)
			break
		}
	}
	if len(f.Clipped) > 0 {
		t.Errorf("tables %v are cut off at a 1200 px window; want them to scroll or wrap", f.Clipped)
	}
	notes := strings.Join(f.Errors, "|")
	if !strings.Contains(notes, "something failed") || !strings.Contains(notes, "not inside the shepherd module") {
		t.Errorf("error and skipped notes: got %q; want both shown", f.Errors)
	}
}

// screenshot opens page in headless Chromium, waits until report.js has
// drawn, fails on any console error or exception, and returns a PNG and
// what the page shows.
func screenshot(t *testing.T, browser, page string) ([]byte, pageFacts) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			problems = append(problems, fmt.Sprintf("exception at %d:%d: %s", d.LineNumber, d.ColumnNumber, msg))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				problems = append(problems, fmt.Sprintf("console.%s: %s", ev.Type, consoleArgs(ev.Args)))
			}
		}
	}); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	err := chromedp.Do(ctx, chromedp.Navigate("file://"+page), chromedp.WaitVisible(chromedp.CSS(`body[data-rendered="1"]`)))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	facts, err := chromedp.Run(ctx, chromedp.Evaluate[pageFacts](pageFactsJS))
	if err != nil {
		t.Fatalf("chromium: read the page: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("chromium: screenshot: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Fatalf("console: got %d problems; want none:\n%s", len(problems), strings.Join(problems, "\n"))
	}
	return shot, facts
}

func consoleArgs(args []*runtime.RemoteObject) string {
	var parts []string
	for _, a := range args {
		if len(a.Value) > 0 {
			parts = append(parts, string(a.Value))
		} else {
			parts = append(parts, a.Description)
		}
	}
	return strings.Join(parts, " ")
}
