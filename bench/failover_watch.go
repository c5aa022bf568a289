// Failover watch: what the faulted node and the proxy say over time —
// the node's own request counters, shepherd's node state, twemproxy's
// ejection stamp — turned into the timeline and the ejection figures.
package bench

import (
	"context"
	"time"
)

// nodeRequests is the node's cmd_get + cmd_set.
func nodeRequests(n *Node, timeout time.Duration) (int64, error) {
	st, err := n.Stats(timeout)
	if err != nil {
		return 0, err
	}
	return statInt(st, "cmd_get") + statInt(st, "cmd_set"), nil
}

// snapshot records the moment the fault begins and the counters then.
func (t *foTarget) snapshot(start time.Time, label string) {
	reqs, err := nodeRequests(t.faulty(), 200*time.Millisecond)
	var ncAt float64
	if t.nc != nil {
		if st, err := t.nc.serverStats(t.faulty().Addr, 200*time.Millisecond); err == nil {
			ncAt = st["server_ejected_at"]
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		t.faultReqs = reqs
	}
	t.ncEjectAt, t.phase = ncAt, 1
	t.events = append(t.events, Event{T: time.Since(start).Seconds(), Target: t.name, Label: label})
}

// event records a moment; "return" also moves the target to phase 2.
func (t *foTarget) event(start time.Time, label string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if label == "return" {
		t.phase = 2
	}
	t.events = append(t.events, Event{T: time.Since(start).Seconds(), Target: t.name, Label: label})
}

// monitor samples the faulty node and the proxy's view of it every
// sample until ctx ends.
func (t *foTarget) monitor(ctx context.Context, s *Scenario, start time.Time) {
	f := s.Failover
	timeout := min(s.Sample, 200*time.Millisecond)
	last, lastAt := int64(-1), time.Time{}
	for sleepUntil(ctx, time.Now().Add(s.Sample)) {
		now := time.Now()
		smp := NodeSample{T: now.Sub(start).Seconds(), Rate: -1}
		backlog := false // this poll's count includes what queued while the node was out
		if reqs, err := nodeRequests(t.faulty(), timeout); err == nil {
			if last >= 0 && reqs >= last {
				smp.Rate = float64(reqs-last) / now.Sub(lastAt).Seconds()
			}
			backlog = t.counted(reqs)
			last, lastAt = reqs, now
		}
		smp.Ejected = t.proxyView(timeout)
		t.observe(smp, now.Sub(start), f, backlog)
	}
}

// counted notes the node's counter the first time it answers after the
// return: what it served during the fault (SIGSTOP queues requests). It
// reports whether this was that first answer.
func (t *foTarget) counted(reqs int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.phase != 2 || t.answered {
		return false
	}
	t.answered = true
	if t.faultReqs >= 0 && reqs >= t.faultReqs {
		t.inFault = reqs - t.faultReqs
	}
	return true
}

// proxyView asks the proxy whether it has the node out: shepherd's
// "stats backends" state, twemproxy's server_ejected_at moving.
func (t *foTarget) proxyView(timeout time.Duration) *bool {
	addr := t.faulty().Addr
	if t.sh != nil {
		st, err := statsOf(t.sh.Addr, "stats backends", timeout)
		state, ok := st["main:"+addr+":state"]
		if err != nil || !ok {
			return nil
		}
		out := state != "healthy"
		return &out
	}
	st, err := t.nc.serverStats(addr, timeout)
	if err != nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.phase > 0 && st["server_ejected_at"] != t.ncEjectAt
	if out {
		t.ncEjectAt = st["server_ejected_at"] // each new stamp is one more ejection
	}
	return &out
}

// observe files one sample and derives ejection and readmission.
func (t *foTarget) observe(smp NodeSample, at time.Duration, f *Failover, backlog bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nodeRate = append(t.nodeRate, smp)
	ej := smp.Ejected != nil && *smp.Ejected
	if ej && t.phase >= 1 {
		t.events = append(t.events, Event{T: smp.T, Target: t.name, Label: "ejected"})
		if t.ejected < 0 {
			t.ejected = (at - f.FaultAt).Seconds()
		}
	}
	if t.phase == 2 && t.readmit < 0 && !backlog && t.back(smp) {
		t.readmit = (at - f.ReturnAt).Seconds()
		t.events = append(t.events, Event{T: smp.T, Target: t.name, Label: "readmitted"})
	}
}

// back says whether the node takes traffic again: for shepherd its state
// is healthy and it serves requests; for twemproxy, it serves requests.
func (t *foTarget) back(smp NodeSample) bool {
	if smp.Rate <= 0 {
		return false
	}
	return t.sh == nil || (smp.Ejected != nil && !*smp.Ejected)
}

// result assembles what the target's clients and monitor saw.
func (t *foTarget) result(s *Scenario) FailoverTarget {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := FailoverTarget{
		Target: t.name, Node: t.faulty().Addr, Ops: t.rec.ops.Load(),
		GetErrors: t.getErrs.Load(), SetErrors: t.setErrs.Load(), Slow: t.slow.Load(), StaleReads: t.stale.Load(),
		Latency: t.rec.summary(), Series: t.rec.series(), NodeSeries: t.nodeRate, Events: dedupe(t.events),
		Ejected: t.ejected, Readmitted: t.readmit, NodeHitsInFault: t.inFault,
		EjectedBy: "stats backends", ReadmittedBy: "state + node traffic",
	}
	if t.nc != nil {
		r.EjectedBy, r.ReadmittedBy = "twemproxy stats", "node traffic"
	}
	return r
}

// dedupe keeps the first of consecutive events with the same label.
func dedupe(evs []Event) []Event {
	var out []Event
	for _, e := range evs {
		if n := len(out); n > 0 && out[n-1].Label == e.Label && out[n-1].Target == e.Target {
			continue
		}
		out = append(out, e)
	}
	return out
}
