// Tests of the exact commands' retry: a key that changes between the
// look and the CAS-guarded write is looked at again, a bounded number of
// times. Their answers on every key state are checked against memcached
// itself in proxy/exact_test.go.
package herd

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// scripted answers each command with the next reply of its command name
// (the last one repeats) and records the requests.
type scripted struct {
	replies map[protocol.Command][]string
	sent    []string
}

func (s *scripted) Meta(_ context.Context, req *protocol.MetaRequest) (protocol.MetaReply, error) {
	wire := protocol.AppendMeta(nil, req)
	s.sent = append(s.sent, strings.SplitN(string(wire), "\r\n", 2)[0])
	rs := s.replies[req.Cmd]
	raw := rs[0]
	if len(rs) > 1 {
		s.replies[req.Cmd] = rs[1:]
	}
	return protocol.ParseMetaReply([]byte(raw))
}

func TestExactRetry(t *testing.T) {
	t.Parallel()
	placeholder := "HD c5 t9 s0 Z\r\n"
	for _, tc := range []struct {
		name    string
		ms      []string
		want    Outcome
		err     error
		lookups int
	}{
		{"stored at once", []string{"HD\r\n"}, Stored, nil, 1},
		{"changed once, then stored", []string{"EX\r\n", "HD\r\n"}, Stored, nil, 2},
		{"gone once, then stored", []string{"NF\r\n", "HD\r\n"}, Stored, nil, 2},
		{"changed every time", []string{"EX\r\n"}, 0, ErrContended, maxTries},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := &scripted{replies: map[protocol.Command][]string{
				protocol.CmdMetaGet: {placeholder}, protocol.CmdMetaSet: tc.ms, protocol.CmdMetaDelete: {"HD\r\n"},
			}}
			a, err := New(Config{}).Add(t.Context(), b, []byte("k"), Item{Value: []byte("v"), TTL: 60})
			if a.Outcome != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("Add over a placeholder: %v, %v; want %v, %v", a.Outcome, err, tc.want, tc.err)
			}
			looks := 0
			for _, s := range b.sent {
				if strings.HasPrefix(s, "mg ") {
					looks++
				}
			}
			if looks != tc.lookups || b.sent[1] != "ms k 1 C5 T60" {
				t.Errorf("sent %q: %d looks; want %d, each followed by ms k 1 C5 T60", b.sent, looks, tc.lookups)
			}
		})
	}
}

// TestExactGivesBackTheWin: a look that took a stale item's refill win
// from memcached re-arms it (md I C<cas>) for the next reader.
func TestExactGivesBackTheWin(t *testing.T) {
	t.Parallel()
	b := &scripted{replies: map[protocol.Command][]string{
		protocol.CmdMetaGet: {"HD c7 t20 s2 X W\r\n"}, protocol.CmdMetaDelete: {"HD\r\n"},
	}}
	a, err := New(Config{}).Arithmetic(t.Context(), b, []byte("k"), 'I', 1)
	if a.Outcome != NotFound || err != nil {
		t.Errorf("incr of a stale key: %v, %v; want NotFound", a.Outcome, err)
	}
	if want := []string{"mg k c t s", "md k C7 I"}; strings.Join(b.sent, "|") != strings.Join(want, "|") {
		t.Errorf("sent %q; want %q", b.sent, want)
	}
}
