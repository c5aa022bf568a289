// Targets: where a load goes. A proxy target is one address; the direct
// target places keys on the nodes itself with the same ketama ring that
// shepherd and twemproxy use, like an application's ketama client.
package bench

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/shepherd-proxy/shepherd/ring"
)

// Target is something a load can be sent to. It is safe for concurrent
// use; each worker opens its own session.
type Target struct {
	Name  string   // direct, shepherd, nutcracker, or a label
	Addrs []string // one proxy address, or the nodes for direct
	ring  *ring.Ring
	pids  func() []int // the processes whose cost a point measures; nil: none
	tls   *tls.Config  // nil: in the clear
}

// proxyTarget is a target behind one address.
func proxyTarget(name, addr string) *Target { return &Target{Name: name, Addrs: []string{addr}} }

// directTarget spreads keys over nodes with ketama/md5.
func directTarget(nodes []*Node) (*Target, error) {
	rn := make([]ring.Node, len(nodes))
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		rn[i] = ring.Node{Addr: n.Addr, Weight: 1}
		addrs[i] = n.Addr
	}
	r, err := ring.New(rn, ring.Options{Distribution: "ketama", Hash: "md5"})
	if err != nil {
		return nil, fmt.Errorf("direct ring: %w", err)
	}
	return &Target{Name: TargetDirect, Addrs: addrs, ring: r}, nil
}

// session is one worker's connections to a target. Not safe for
// concurrent use.
type session struct {
	t       *Target
	timeout time.Duration
	keep    bool    // keep the value of single-key gets in reply.val
	conns   []*conn // one per address, dialled on demand
	plan    [][]part
}

// part is the piece of op i that goes to one node.
type part struct {
	i  int
	op op
}

func (t *Target) session(timeout time.Duration, keep bool) *session {
	return &session{t: t, timeout: timeout, keep: keep, conns: make([]*conn, len(t.Addrs)), plan: make([][]part, len(t.Addrs))}
}

func (s *session) close() {
	for i, c := range s.conns {
		if c != nil {
			c.close()
			s.conns[i] = nil
		}
	}
}

// do sends ops pipelined and fills reps in order. Transport failures are
// in reps[i].err; the failed connection is closed and redialled next time.
func (s *session) do(ops []op, reps []reply) {
	for i := range reps {
		reps[i] = reply{}
	}
	s.split(ops)
	for n := range s.plan {
		if len(s.plan[n]) > 0 {
			s.send(n)
		}
	}
	for n := range s.plan {
		if len(s.plan[n]) > 0 {
			s.receive(n, reps)
		}
	}
}

// split fills s.plan with each node's share of ops, in order.
func (s *session) split(ops []op) {
	for n := range s.plan {
		s.plan[n] = s.plan[n][:0]
	}
	if s.t.ring == nil {
		for i, o := range ops {
			s.plan[0] = append(s.plan[0], part{i, o})
		}
		return
	}
	for i, o := range ops {
		if len(o.keys) == 1 {
			n := s.t.ring.Lookup(o.keys[0])
			s.plan[n] = append(s.plan[n], part{i, o})
			continue
		}
		s.splitKeys(i, o)
	}
}

// splitKeys sends each node its keys of multi-get o.
func (s *session) splitKeys(i int, o op) {
	start := make([]int, len(s.plan))
	for n := range s.plan {
		start[n] = len(s.plan[n])
	}
	for _, k := range o.keys {
		n := s.t.ring.Lookup(k)
		if len(s.plan[n]) == start[n] {
			s.plan[n] = append(s.plan[n], part{i, op{kind: opGet, keys: make([][]byte, 0, len(o.keys)/len(s.plan)+8)}})
		}
		p := &s.plan[n][start[n]]
		p.op.keys = append(p.op.keys, k)
	}
}

// send writes node n's parts; a failure is left for receive to report.
func (s *session) send(n int) {
	c := s.conns[n]
	if c == nil {
		var err error
		if c, err = dialConn(s.t.Addrs[n], s.timeout, s.t.tls); err != nil {
			return
		}
		s.conns[n] = c
	}
	c.nc.SetDeadline(time.Now().Add(s.timeout))
	for _, p := range s.plan[n] {
		c.write(&p.op)
	}
	if err := c.flush(); err != nil {
		c.close()
		s.conns[n] = nil
	}
}

// receive reads node n's replies and merges them into reps.
func (s *session) receive(n int, reps []reply) {
	c := s.conns[n]
	for j, p := range s.plan[n] {
		rep := &reps[p.i]
		if c == nil {
			s.fail(n, j, reps, errNoConn)
			return
		}
		var part reply
		if err := c.read(&p.op, &part, s.keep); err != nil {
			c.close()
			s.conns[n] = nil
			s.fail(n, j, reps, err)
			return
		}
		merge(rep, &part)
	}
}

// fail marks node n's parts from j on as failed with err.
func (s *session) fail(n, j int, reps []reply, err error) {
	now := time.Now()
	for _, p := range s.plan[n][j:] {
		rep := &reps[p.i]
		if rep.err == nil {
			rep.err = err
		}
		rep.done = now
	}
}

func merge(dst, src *reply) {
	dst.hits += src.hits
	dst.misses += src.misses
	dst.stored = dst.stored || src.stored
	if src.val != nil {
		dst.val = src.val
	}
	if dst.err == nil {
		dst.err = src.err
	}
	dst.done = time.Now()
}

var errNoConn = fmt.Errorf("bench: no connection")
