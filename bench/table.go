// Table: the result tables printed to the terminal at the end of a run.
package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteTable prints every result of r as aligned tables.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "\nherdbench: %d CPU cores, %s; memcached %s; %s; shepherd %s\n",
		r.Env.CPUs, r.Env.Go, r.Env.Memcached, r.Env.Nutcracker, r.Env.Shepherd)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, res := range r.Results {
		res.writeTable(w)
	}
}

func (res *Result) writeTable(w io.Writer) {
	fmt.Fprintf(w, "\n== %s (%s, %.1fs)\n", res.Name, res.Kind, res.Seconds)
	if res.Features != nil {
		fmt.Fprintf(w, "shepherd features: %s\n", res.Features.describe())
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	switch {
	case res.Throughput != nil:
		res.Throughput.table(tw)
	case res.Herd != nil:
		res.Herd.table(tw)
	case res.Failover != nil:
		res.Failover.table(tw)
	case res.Rebalance != nil:
		res.Rebalance.table(tw)
	case res.Comments != nil:
		res.Comments.table(tw)
	}
	tw.Flush()
	if res.Skipped != "" {
		fmt.Fprintf(w, "skipped: %s\n", res.Skipped)
	}
	if res.Error != "" {
		fmt.Fprintf(w, "ERROR: %s\n", res.Error)
	}
}

func (f *Features) describe() string {
	var on []string
	flag := func(ok bool, name string) {
		if ok {
			on = append(on, name+" yes")
		} else {
			on = append(on, name+" no")
		}
	}
	flag(f.HealthConfig, "health config")
	flag(f.NodeState, "node state reported")
	flag(f.HerdConfig, "herd config")
	flag(f.HerdStats, "stats herd")
	flag(f.Reload, "SIGHUP reload")
	return strings.Join(on, ", ")
}

func row(w io.Writer, cells ...any) {
	for _, c := range cells {
		fmt.Fprintf(w, "%v\t", c)
	}
	fmt.Fprintln(w)
}

func (t *ThroughputResult) table(w io.Writer) {
	row(w, "point", "target", "ops/s", "keys/s", "÷direct", "p50", "p99", "p99.9", "max", "p99÷direct", "errors")
	for _, p := range t.Points {
		row(w, p.Label, p.Target, fmtCount(p.OpsPerSec), fmtCount(p.KeysPerSec), fmtRatio(p.Ratio),
			fmtUS(p.Latency.P50), fmtUS(p.Latency.P99), fmtUS(p.Latency.P999), fmtUS(p.Latency.Max),
			fmtRatio(p.P99Ratio), p.Errors)
	}
	row(w)
	t.costTable(w)
	if len(t.Idle) > 0 {
		row(w)
		row(w, "idle connections", "target", "opened", "RSS before", "RSS after", "KiB/conn", "")
		for _, c := range t.Idle {
			row(w, c.Connections, c.Target, c.Opened, fmt.Sprintf("%.1f MB", float64(c.RSSBefore)/1024),
				fmt.Sprintf("%.1f MB", float64(c.RSSAfter)/1024), fmt.Sprintf("%.1f", c.KiBPerConn), c.Error)
		}
	}
}

// costTable is what each target's own processes spent per request.
func (t *ThroughputResult) costTable(w io.Writer) {
	row(w, "point", "target", "ops/s", "CPU µs/req", "syscalls/req", "of them io_uring_enter", "ctx sw/req", "cores busy", "processes")
	for _, p := range t.Points {
		c := p.Cost
		if c == nil {
			row(w, p.Label, p.Target, fmtCount(p.OpsPerSec), "?", "?", "?", "?", "?", "?")
			continue
		}
		row(w, p.Label, p.Target, fmtCount(p.OpsPerSec), fmt.Sprintf("%.1f", c.CPUus), fmtPer2(c.Syscalls),
			fmtPer2(c.RingEnters), fmtPer2(c.CtxSwitches), fmtPer2(c.CPUUtil), c.Processes)
	}
	t.boxTable(w)
	if vs := t.versus(TargetShepherd, TargetNutcracker); len(vs) > 0 {
		row(w)
		row(w, "point", "shepherd÷nutcracker ops/s", "CPU µs/req (nc / sh)", "syscalls/req (nc / sh)", "ctx sw/req (nc / sh)")
		for _, v := range vs {
			row(w, v.a.Label, fmtRatio(ratio(v.a.OpsPerSec, v.b.OpsPerSec)),
				fmt.Sprintf("%.1f / %.1f", v.b.Cost.CPUus, v.a.Cost.CPUus),
				fmt.Sprintf("%s / %s", fmtPer2(v.b.Cost.Syscalls), fmtPer2(v.a.Cost.Syscalls)),
				fmt.Sprintf("%s / %s", fmtPer2(v.b.Cost.CtxSwitches), fmtPer2(v.a.Cost.CtxSwitches)))
		}
	}
}

// boxTable is where the machine's CPU went per request at each point:
// the proxy, the load generator (herdbench itself) and the nodes. On a
// box whose cores are all busy, throughput is what their sum allows, so
// a proxy's saving per request shows in its throughput only in
// proportion to that sum.
func (t *ThroughputResult) boxTable(w io.Writer) {
	if !slices.ContainsFunc(t.Points, func(p Point) bool { return p.ClientCost != nil }) {
		return
	}
	row(w)
	row(w, "point", "target", "CPU µs/req: proxy", "client", "nodes", "sum", "cores busy")
	for _, p := range t.Points {
		var sum, busy float64
		cell := func(c *ProcCost) string {
			if c == nil {
				return "?"
			}
			sum += c.CPUus
			busy += c.CPUUtil
			return fmt.Sprintf("%.1f", c.CPUus)
		}
		proxy := "-"
		if p.Target != TargetDirect { // direct's own processes are the nodes
			proxy = cell(p.Cost)
		}
		client, nodes := cell(p.ClientCost), cell(p.NodesCost)
		row(w, p.Label, p.Target, proxy, client, nodes, fmt.Sprintf("%.1f", sum), fmtPer2(busy))
	}
}

// pair is two targets' points at one label.
type pair struct{ a, b Point }

// versus pairs target a's points with target b's at the same label, where
// both have costs.
func (t *ThroughputResult) versus(a, b string) []pair {
	var out []pair
	for _, p := range t.Points {
		if p.Target != a || p.Cost == nil {
			continue
		}
		for _, q := range t.Points {
			if q.Target == b && q.Label == p.Label && q.Cost != nil {
				out = append(out, pair{p, q})
			}
		}
	}
	return out
}

func (h *HerdResult) table(w io.Writer) {
	row(w, "mode", "herd rule", "deletes", "misses", "misses/delete", "fills", "fills/delete", "by clients", "by shepherd", "storm p99", "storm max", "p99", "errors")
	for _, m := range h.Modes {
		row(w, m.Mode, yesNo(m.Active), m.Invalidations, m.Misses, fmt.Sprintf("%.1f", m.MissesPerInvalidation),
			m.Fills, fmt.Sprintf("%.1f", m.FillsPerInvalidation), m.FillsByClients, m.FillsByShepherd,
			fmtUS(m.StormLatency.P99), fmtUS(m.StormLatency.Max), fmtUS(m.Latency.P99), m.Errors)
	}
}

func (f *FailoverResult) table(w io.Writer) {
	row(w, "fault", "target", "requests", "get errors", "set errors", "slowest", "p99", "over timeout", "ejected after", "readmitted after", "node reqs in fault", "stale reads")
	for _, r := range f.Runs {
		for _, t := range r.Targets {
			row(w, r.Variant, t.Target, t.Ops, t.GetErrors, t.SetErrors, fmtUS(t.Latency.Max), fmtUS(t.Latency.P99), t.Slow,
				fmtSecs(t.Ejected, t.EjectedBy), fmtSecs(t.Readmitted, t.ReadmittedBy), fmtMaybe(t.NodeHitsInFault), t.StaleReads)
		}
	}
}

func (r *RebalanceResult) table(w io.Writer) {
	row(w, "change", "nodes", "method", "keys", "moved (ketama)", "moved (measured)", "hit before", "hit 1st s", "hit last s")
	for _, x := range r.Runs {
		row(w, x.Change, fmt.Sprintf("%d→%d", x.From, x.To), x.Method, x.Keys, fmtPct(x.ExpectedMoved), fmtPct(x.MeasuredMoved),
			fmtPct(x.HitBefore), fmtPct(x.HitFirst), fmtPct(x.HitEnd))
	}
}

func (c *CommentsResult) table(w io.Writer) {
	row(w, "kind", "requests", "req/s", "p50", "p99", "p99.9", "max", "db queries/req", "0-query share", "cache ops/req", "errors")
	for _, k := range c.Kinds {
		row(w, k.Kind, k.Requests, fmtCount(k.RequestsPerSec), fmtUS(k.Latency.P50), fmtUS(k.Latency.P99), fmtUS(k.Latency.P999),
			fmtUS(k.Latency.Max), fmtPer(k.QueriesPerReq), fmtPct(k.ZeroQueryShare), fmtPer(k.CacheOpsPerReq), k.Errors)
	}
	row(w, "all", c.Requests, fmtCount(c.RequestsPerSec), fmtUS(c.Latency.P50), fmtUS(c.Latency.P99), fmtUS(c.Latency.P999),
		fmtUS(c.Latency.Max), fmtPer(c.QueriesPerReq), "", fmtPer(c.CacheOpsPerReq), c.Errors)
}

// fmtPer2 formats a per-request count with two decimals.
func fmtPer2(v float64) string { return fmt.Sprintf("%.2f", v) }

// fmtPer formats a per-request mean.
func fmtPer(v float64) string { return fmt.Sprintf("%.3f", v) }

// fmtUS formats microseconds for people.
func fmtUS(us float64) string {
	switch {
	case us == 0:
		return "-"
	case us < 1000:
		return fmt.Sprintf("%.0fµs", us)
	case us < 1e6:
		return fmt.Sprintf("%.2fms", us/1e3)
	default:
		return fmt.Sprintf("%.2fs", us/1e6)
	}
}

func fmtCount(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fmtRatio(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func fmtPct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

func fmtSecs(s float64, by string) string {
	if s < 0 {
		return "never seen"
	}
	return fmt.Sprintf("%.2fs (%s)", s, by)
}

func fmtMaybe(n int64) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprint(n)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
