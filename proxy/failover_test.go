package proxy_test

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
)

// loopResult is what a client loop saw.
type loopResult struct {
	requests   int
	getErrors  int // lines other than VALUE/END in reply to a get
	setErrors  int // SERVER_ERROR (or anything but STORED) in reply to a set
	connErrors int // connections that broke (reconnected)
	slowest    time.Duration
	over       int // requests slower than the bound given to runLoop
	firstError string
}

func (r loopResult) String() string {
	return fmt.Sprintf("%d requests, %d get error lines, %d set errors, %d broken connections, slowest %v, %d over %v (first error: %q)",
		r.requests, r.getErrors, r.setErrors, r.connErrors, r.slowest.Round(time.Millisecond), r.over, foBound, r.firstError)
}

// runLoop drives workers clients doing alternating sets and gets over
// nkeys keys at addr for dur (bounded in time and count).
func runLoop(addr string, workers, nkeys int, dur, bound time.Duration) loopResult {
	var mu sync.Mutex
	var total loopResult
	var wg sync.WaitGroup
	stop := time.Now().Add(dur)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := clientLoop(addr, w, nkeys, stop, bound)
			mu.Lock()
			defer mu.Unlock()
			total.requests += r.requests
			total.getErrors += r.getErrors
			total.setErrors += r.setErrors
			total.connErrors += r.connErrors
			total.over += r.over
			total.slowest = max(total.slowest, r.slowest)
			total.firstError = cmp.Or(total.firstError, r.firstError)
		}(w)
	}
	wg.Wait()
	return total
}

func clientLoop(addr string, w, nkeys int, stop time.Time, bound time.Duration) loopResult {
	var r loopResult
	rng := rand.New(rand.NewPCG(uint64(w), 7))
	var nc net.Conn
	var br *bufio.Reader
	for i := 0; i < 1_000_000 && time.Now().Before(stop); i++ {
		if nc == nil {
			var err error
			if nc, err = net.DialTimeout("tcp", addr, time.Second); err != nil {
				r.connErrors++
				time.Sleep(10 * time.Millisecond)
				continue
			}
			br = bufio.NewReader(nc)
		}
		key := fmt.Sprintf("loop:%d", rng.IntN(nkeys))
		get := i%2 == 1
		start := time.Now()
		nc.SetDeadline(start.Add(5 * time.Second))
		ok, err := oneRequest(nc, br, key, get)
		took := time.Since(start)
		r.requests++
		r.slowest = max(r.slowest, took)
		if took > bound {
			r.over++
		}
		var reply errReply
		switch {
		case errors.As(err, &reply) && get:
			r.getErrors++
			r.firstError = cmp.Or(r.firstError, "get: "+reply.Error())
		case errors.As(err, &reply):
			r.setErrors++
			r.firstError = cmp.Or(r.firstError, "set: "+reply.Error())
		case err != nil || !ok:
			r.connErrors++
			r.firstError = cmp.Or(r.firstError, fmt.Sprint("connection: ", err))
			nc.Close()
			nc = nil
		}
	}
	if nc != nil {
		nc.Close()
	}
	return r
}

// oneRequest sends a set or a get and reports whether the reply was a
// success (STORED; VALUE.../END).
func oneRequest(nc net.Conn, br *bufio.Reader, key string, get bool) (bool, error) {
	if !get {
		v := key + "=" + strconv.Itoa(len(key))
		if _, err := fmt.Fprintf(nc, "set %s 0 0 %d\r\n%s\r\n", key, len(v), v); err != nil {
			return false, err
		}
		l, err := br.ReadString('\n')
		if l != "STORED\r\n" && err == nil {
			return false, errReply(l)
		}
		return l == "STORED\r\n", err
	}
	if _, err := fmt.Fprintf(nc, "get %s\r\n", key); err != nil {
		return false, err
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return false, err
		}
		switch {
		case l == "END\r\n":
			return true, nil
		case strings.HasPrefix(l, "VALUE "):
			if _, err := br.ReadString('\n'); err != nil {
				return false, err
			}
		default:
			return false, errReply(l)
		}
	}
}

// timeline samples one node's status while a scenario runs.
type timeline struct {
	mu             sync.Mutex
	ejectedAt      time.Time
	readmittedAt   time.Time
	reqAtEject     uint64 // node's request count when first seen ejected
	reqAtLastOut   uint64 // when last seen out (ejected or probing)
	deletedAtOut   uint64
	probeTimes     []time.Time
	lastProbeCount uint64
}

func watchNode(srv *proxy.Server, addr string, done <-chan struct{}) *timeline {
	tl := &timeline{}
	go func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			for _, st := range srv.Backends() {
				if st.Addr == addr {
					tl.observe(st)
				}
			}
		}
	}()
	return tl
}

func (tl *timeline) observe(st proxy.NodeStatus) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	now := time.Now()
	if st.Probes != tl.lastProbeCount {
		tl.lastProbeCount = st.Probes
		tl.probeTimes = append(tl.probeTimes, now)
	}
	// Out: ejected or probing, and not yet taking writes again (the
	// replay's last pass admits writes a moment before the state turns).
	out := st.State != "healthy" && !st.Admitted
	switch {
	case out && tl.ejectedAt.IsZero():
		tl.ejectedAt, tl.reqAtEject = now, st.Requests
		fallthrough
	case out && tl.readmittedAt.IsZero():
		tl.reqAtLastOut, tl.deletedAtOut = st.Requests, st.Deleted
	case st.State == "healthy" && !tl.ejectedAt.IsZero() && tl.readmittedAt.IsZero():
		tl.readmittedAt = now
	}
}

// nodeOps is what memcached itself counts of gets and sets.
func nodeOps(t *testing.T, s *mctest.Server) uint64 {
	st := s.Stats(t)
	g, _ := strconv.ParseUint(st["cmd_get"], 10, 64)
	c, _ := strconv.ParseUint(st["cmd_set"], 10, 64)
	return g + c
}

const (
	foTimeout = 100 * time.Millisecond
	foRetry   = time.Second
	foBound   = foTimeout + 50*time.Millisecond
	foSlack   = 400 * time.Millisecond
)

func failoverConfig(cfg *proxy.Config) {
	p := cfg.Pools["main"]
	p.Timeout, p.FailureLimit, p.RetryTimeout = foTimeout, 2, foRetry
}

// TestFailoverHungNode is the hung-node scenario (not parallel: it
// measures timing): 3 nodes, a client loop
// of gets and sets over 300 keys for 10 s, one node SIGSTOPped from t=1s
// to t=6s; the same loop through nutcracker for comparison.
func TestFailoverHungNode(t *testing.T) {
	runFailover(t, "hung", func(n *mctest.Server) { n.Pause() }, func(n *mctest.Server) { n.Resume() })
}

// TestFailoverKilledNode is the same with the node killed and restarted.
func TestFailoverKilledNode(t *testing.T) {
	runFailover(t, "killed", func(n *mctest.Server) { n.Stop() }, func(n *mctest.Server) { n.Restart(t) })
}

func runFailover(t *testing.T, name string, fail, recover func(*mctest.Server)) {
	if testing.Short() {
		t.Skip("20 s failover scenario; skipped with -short")
	}
	if raceEnabled {
		t.Skip("timing scenario against a 100ms timeout: make test runs it in a second pass without -race")
	}
	nodes := mctest.StartN(t, 3)
	f := startShepherd(t, nodes, failoverConfig)
	victim := nodes[0]
	before := nodeOps(t, victim)
	done := make(chan struct{})
	tl := watchNode(f.srv, victim.Addr, done)
	var reqAtFail uint64
	var resumedAt time.Time
	go func() {
		time.Sleep(time.Second)
		reqAtFail = f.srv.Backends()[0].Requests
		fail(victim)
		time.Sleep(5 * time.Second)
		recover(victim)
		resumedAt = time.Now()
	}()
	res := runLoop(f.addr, 4, 300, 10*time.Second, foBound)
	// Probes back off, so readmission may come after the loop: watch on.
	waitState(t, f.srv, victim.Addr, "healthy")
	time.Sleep(20 * time.Millisecond)
	close(done)
	end := f.srv.Backends()[0]
	tl.mu.Lock()
	defer tl.mu.Unlock()
	t.Logf("%s node through shepherd: %v", name, res)
	checkFailover(t, name, res, tl, resumedAt)
	if end.Ejections > 1 {
		// On a loaded machine the returning node can be ejected again (a
		// 100ms timeout missed under CPU starvation); the request accounting
		// below assumes one outage.
		t.Logf("%s: the node was ejected %d times (machine under load); exact request accounting skipped", name, end.Ejections)
	} else if name == "hung" {
		// What the stopped node itself counted: the requests in flight when it
		// stopped, plus what came after readmission; nothing in between.
		after := nodeOps(t, victim)
		inFlight := tl.reqAtEject - reqAtFail
		// Replays send the node ms copies while it is out (memcached counts
		// them as sets) and md deletes after it takes writes (not counted).
		post := end.Requests - tl.reqAtLastOut - (end.Deleted - tl.deletedAtOut)
		between := int64(after-before) - int64(inFlight) - int64(post) - int64(reqAtFail) - int64(end.Copied)
		t.Logf("%s node: memcached counted %d gets+sets; shepherd sent %d before the stop, %d in flight at ejection, %d replay copies, %d after readmission → %d client requests during ejection",
			name, after-before, reqAtFail, inFlight, end.Copied, post, between)
		// The count can be negative, never positive: requests in flight when
		// the node stopped sit in its socket buffer, and after SIGCONT
		// memcached stops reading a connection at the first reply it cannot
		// write (shepherd closed it on timeout), dropping the rest.
		if between > 0 {
			t.Errorf("%d client requests reached the stopped node after its ejection; want 0", between)
		}
	}
	compareNutcracker(t, name, fail, recover)
}

func checkFailover(t *testing.T, name string, res loopResult, tl *timeline, resumedAt time.Time) {
	t.Helper()
	if res.getErrors != 0 {
		t.Errorf("%s: %d error lines in reply to gets; want 0 (a dead node's keys are misses)", name, res.getErrors)
	}
	if res.connErrors != 0 {
		t.Errorf("%s: %d client connections broke; want 0", name, res.connErrors)
	}
	// The target is that no request takes longer than timeout+50ms; the
	// count over it is logged above (0 in an unloaded run without -race).
	// The assertion leaves room for a loaded CI machine under the race
	// detector, while still catching any request that waits on the node.
	if res.slowest > foTimeout+foSlack {
		t.Errorf("%s: slowest request took %v; want under timeout+%v (%v): no client waits on a bad node", name, res.slowest, foSlack, foTimeout+foSlack)
	}
	if tl.ejectedAt.IsZero() || tl.readmittedAt.IsZero() {
		t.Fatalf("%s: ejected at %v, readmitted at %v; want both", name, tl.ejectedAt, tl.readmittedAt)
	}
	// Probes back off ×1.5 (±10% jitter); the node must be back within
	// retry_timeout of its return plus the probe interval in force then.
	interval := foRetry
	if n := len(tl.probeTimes); n >= 2 {
		interval = tl.probeTimes[n-1].Sub(tl.probeTimes[n-2])
	}
	back := tl.readmittedAt.Sub(resumedAt)
	t.Logf("%s: readmitted %v after the node returned (retry_timeout %v, last probe interval %v, %d probes)",
		name, back.Round(time.Millisecond), foRetry, interval.Round(time.Millisecond), len(tl.probeTimes))
	if back > foRetry+interval+100*time.Millisecond {
		t.Errorf("%s: readmitted %v after return; want within retry_timeout + one probe interval (%v)", name, back, foRetry+interval)
	}
}

// compareNutcracker runs the same loop and fault through twemproxy with
// the equivalent settings, and logs what its clients saw.
func compareNutcracker(t *testing.T, name string, fail, recover func(*mctest.Server)) {
	nodes := mctest.StartN(t, 3)
	yaml := strings.Replace(mctest.NutcrackerPool(nodes, "ketama", "md5"), "auto_eject_hosts: false",
		"auto_eject_hosts: true\n  timeout: 100\n  server_failure_limit: 2\n  server_retry_timeout: 1000", 1)
	addr := mctest.Nutcracker(t, yaml)
	go func() {
		time.Sleep(time.Second)
		fail(nodes[0])
		time.Sleep(5 * time.Second)
		recover(nodes[0])
	}()
	res := runLoop(addr, 4, 300, 10*time.Second, foBound)
	t.Logf("%s node through nutcracker: %v", name, res)
}

// errReply is an unexpected reply line: the server answered, so the
// connection is still good.
type errReply string

func (e errReply) Error() string { return strings.TrimSpace(string(e)) }
