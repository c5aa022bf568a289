// The exact commands against a real memcached: each command on each state
// a protected key can be in, its answer and the state it leaves.
package herd

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/protocol"
)

// mcBackend is a Backend over one connection to a memcached.
type mcBackend struct {
	mu sync.Mutex // guards the connection: one request at a time
	nc net.Conn
	br *bufio.Reader
}

func dialMC(t *testing.T, addr string) *mcBackend {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &mcBackend{nc: nc, br: bufio.NewReader(nc)}
}

func (m *mcBackend) Meta(_ context.Context, req *protocol.MetaRequest) (protocol.MetaReply, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := m.nc.Write(protocol.AppendMeta(nil, req)); err != nil {
		return protocol.MetaReply{}, err
	}
	var rep protocol.Reply
	if err := protocol.ReadReply(m.br, protocol.ReplyMeta, &rep); err != nil {
		return protocol.MetaReply{}, err
	}
	return protocol.ParseMetaReply(rep.Raw)
}

// meta sends a raw meta command and returns its reply.
func (m *mcBackend) raw(t *testing.T, line string) protocol.MetaReply {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := m.nc.Write([]byte(line)); err != nil {
		t.Fatal(err)
	}
	var rep protocol.Reply
	if err := protocol.ReadReply(m.br, protocol.ReplyMeta, &rep); err != nil {
		t.Fatal(err)
	}
	r, err := protocol.ParseMetaReply(rep.Raw)
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	return r
}

// prepare leaves key in st on memcached; a live or stale value is "10"
// with flags 3.
func (m *mcBackend) prepare(t *testing.T, key string, st State) {
	t.Helper()
	switch st {
	case Placeholder:
		m.raw(t, "mg "+key+" N30 s\r\n")
	case Stale:
		m.raw(t, "ms "+key+" 2 F3 T0\r\n10\r\n")
		m.raw(t, "md "+key+" I T30\r\n")
	case Live:
		m.raw(t, "ms "+key+" 2 F3 T0\r\n10\r\n")
	}
}

// look returns key's state and, when live, its value.
func (m *mcBackend) look(t *testing.T, key string) (State, string) {
	t.Helper()
	r := m.raw(t, "mg "+key+" s v\r\n")
	st := StateOf(&r)
	if st == Stale && r.Win {
		m.raw(t, fmt.Sprintf("md %s I T30\r\n", key)) // give back the win this look took
	}
	if st != Live {
		return st, ""
	}
	return st, string(r.Value)
}

func (s State) String() string {
	return [...]string{"absent", "placeholder", "stale", "live"}[s]
}

func (o Outcome) String() string {
	return [...]string{"none", "Stored", "NotStored", "Exists", "NotFound", "Deleted", "Touched", "Number", "ClientError"}[o]
}

func TestExactOnMemcached(t *testing.T) {
	t.Parallel()
	mc := dialMC(t, mctest.Start(t).Addr)
	g := New(Config{})
	rule := &Rule{StaleTTL: 30 * time.Second, LeaseTTL: 10 * time.Second}
	item := Item{Value: []byte("77"), Flags: 5}
	type result struct {
		out   Outcome
		value string // incr/decr's number, or ClientError's line
		after State
		held  string // the live value after, if live
	}
	cmds := []struct {
		name string
		run  func(key []byte, cas uint64) (Answer, error)
		want map[State]result
	}{
		{"add", func(k []byte, _ uint64) (Answer, error) { return g.Add(t.Context(), mc, k, item) }, map[State]result{
			Absent: {Stored, "", Live, "77"}, Placeholder: {Stored, "", Live, "77"}, Stale: {Stored, "", Live, "77"}, Live: {NotStored, "", Live, "10"}}},
		{"replace", func(k []byte, _ uint64) (Answer, error) { return g.Replace(t.Context(), mc, k, item) }, map[State]result{
			Absent: {NotStored, "", Absent, ""}, Placeholder: {NotStored, "", Placeholder, ""}, Stale: {NotStored, "", Stale, ""}, Live: {Stored, "", Live, "77"}}},
		{"append", func(k []byte, _ uint64) (Answer, error) { return g.Concat(t.Context(), mc, k, 'A', []byte("5")) }, map[State]result{
			Absent: {NotStored, "", Absent, ""}, Placeholder: {NotStored, "", Placeholder, ""}, Stale: {NotStored, "", Stale, ""}, Live: {Stored, "", Live, "105"}}},
		{"prepend", func(k []byte, _ uint64) (Answer, error) { return g.Concat(t.Context(), mc, k, 'P', []byte("5")) }, map[State]result{
			Live: {Stored, "", Live, "510"}}},
		{"cas right", func(k []byte, cas uint64) (Answer, error) { return g.CompareAndSwap(t.Context(), mc, k, item, cas) }, map[State]result{
			Absent: {NotFound, "", Absent, ""}, Placeholder: {NotFound, "", Placeholder, ""}, Stale: {NotFound, "", Stale, ""}, Live: {Stored, "", Live, "77"}}},
		{"cas wrong", func(k []byte, cas uint64) (Answer, error) { return g.CompareAndSwap(t.Context(), mc, k, item, cas+100) }, map[State]result{
			Live: {Exists, "", Live, "10"}}},
		{"incr", func(k []byte, _ uint64) (Answer, error) { return g.Arithmetic(t.Context(), mc, k, 'I', 5) }, map[State]result{
			Absent: {NotFound, "", Absent, ""}, Placeholder: {NotFound, "", Placeholder, ""}, Stale: {NotFound, "", Stale, ""}, Live: {Number, "15", Live, "15"}}},
		{"decr", func(k []byte, _ uint64) (Answer, error) { return g.Arithmetic(t.Context(), mc, k, 'D', 5) }, map[State]result{
			Live: {Number, "5", Live, "5 "}}}, // memcached's decr overwrites in place: "10" becomes "5 "
		{"touch", func(k []byte, _ uint64) (Answer, error) { return g.Touch(t.Context(), mc, k, 100) }, map[State]result{
			Absent: {NotFound, "", Absent, ""}, Placeholder: {NotFound, "", Placeholder, ""}, Stale: {NotFound, "", Stale, ""}, Live: {Touched, "", Live, "10"}}},
		{"delete", func(k []byte, _ uint64) (Answer, error) { return g.Invalidate(t.Context(), mc, k, rule) }, map[State]result{
			Absent: {NotFound, "", Absent, ""}, Placeholder: {NotFound, "", Absent, ""}, Stale: {NotFound, "", Stale, ""}, Live: {Deleted, "", Stale, ""}}},
	}
	n := 0
	for _, c := range cmds {
		for _, st := range []State{Absent, Placeholder, Stale, Live} {
			want, ok := c.want[st]
			if !ok {
				continue
			}
			n++
			key := fmt.Sprintf("exact:%d", n)
			mc.prepare(t, key, st)
			var cas uint64
			if st == Live {
				r := mc.raw(t, "mg "+key+" c\r\n")
				cas = r.CAS
			}
			a, err := c.run([]byte(key), cas)
			after, held := mc.look(t, key)
			if err != nil || a.Outcome != want.out || string(a.Value) != want.value || after != want.after || held != want.held {
				t.Errorf("%s on a %s key: got %v %q (err %v), then %s %q; want %v %q, then %s %q",
					c.name, st, a.Outcome, a.Value, err, after, held, want.out, want.value, want.after, want.held)
			}
		}
	}
}

// TestExactIncrNonNumeric: incr of a live value that is not a number is
// memcached's CLIENT_ERROR line, passed on as the answer.
func TestExactIncrNonNumeric(t *testing.T) {
	t.Parallel()
	mc := dialMC(t, mctest.Start(t).Addr)
	mc.raw(t, "ms k 3 T0\r\nabc\r\n")
	a, err := New(Config{}).Arithmetic(t.Context(), mc, []byte("k"), 'I', 1)
	if err != nil || a.Outcome != ClientError || string(a.Value) != "CLIENT_ERROR cannot increment or decrement non-numeric value" {
		t.Errorf("incr of abc: got %v %q, %v; want ClientError \"CLIENT_ERROR cannot increment or decrement non-numeric value\"", a.Outcome, a.Value, err)
	}
}

// TestGetAndTouchOnMemcached: gat returns and touches a live value and
// misses on every other state, leaving it as it was.
func TestGetAndTouchOnMemcached(t *testing.T) {
	t.Parallel()
	mc := dialMC(t, mctest.Start(t).Addr)
	g := New(Config{})
	for i, st := range []State{Absent, Placeholder, Stale, Live} {
		key := fmt.Sprintf("gat:%d", i)
		mc.prepare(t, key, st)
		res, err := g.GetAndTouch(t.Context(), mc, []byte(key), 100)
		after, _ := mc.look(t, key)
		hit := st == Live
		if err != nil || res.Found != hit || (hit && (string(res.Value) != "10" || res.Flags != 3)) || after != st {
			t.Errorf("gat of a %s key: got %+v, %v, then %s; want found %v (10, flags 3), then %s", st, res, err, after, hit, st)
		}
		if hit {
			if r := mc.raw(t, "mg "+key+" t\r\n"); r.TTL < 90 || r.TTL > 100 {
				t.Errorf("gat of a live key: TTL after is %d; want about 100", r.TTL)
			}
		}
	}
}
