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

// TestExactArithmeticReplies: incr/decr acts on a live value with a
// CAS-guarded ma. A number is the answer; EX or NF (the key changed since
// the look) looks again; memcached's CLIENT_ERROR for a non-numeric value
// is passed on as its answer; any other error line (a SERVER_ERROR, or a
// CLIENT_ERROR carrying no message to pass on) is an error at once, never
// retried.
func TestExactArithmeticReplies(t *testing.T) {
	t.Parallel()
	const live = "HD c5 t-1 s2\r\n"
	nonNumeric := "CLIENT_ERROR cannot increment or decrement non-numeric value"
	for _, tc := range []struct {
		name    string
		ma      []string
		want    Answer
		err     error
		lookups int
	}{
		{"counted at once", []string{"VA 2\r\n12\r\n"}, Answer{Outcome: Number, Value: []byte("12")}, nil, 1},
		{"changed once, then counted", []string{"EX\r\n", "VA 2\r\n12\r\n"}, Answer{Outcome: Number, Value: []byte("12")}, nil, 2},
		{"gone once, then counted", []string{"NF\r\n", "VA 1\r\n7\r\n"}, Answer{Outcome: Number, Value: []byte("7")}, nil, 2},
		{"changed every time", []string{"EX\r\n"}, Answer{}, ErrContended, maxTries},
		{"non-numeric value", []string{nonNumeric + "\r\n"}, Answer{Outcome: ClientError, Value: []byte(nonNumeric)}, nil, 1},
		{"server error", []string{"SERVER_ERROR out of memory\r\n", "VA 2\r\n12\r\n"}, Answer{}, ErrUnexpected, 1},
		{"client error without a message", []string{"CLIENT_ERROR \r\n", "VA 2\r\n12\r\n"}, Answer{}, ErrUnexpected, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := &scripted{replies: map[protocol.Command][]string{
				protocol.CmdMetaGet: {live}, protocol.CmdMetaArithmetic: tc.ma,
			}}
			a, err := New(Config{}).Arithmetic(t.Context(), b, []byte("k"), 'I', 5)
			if a.Outcome != tc.want.Outcome || string(a.Value) != string(tc.want.Value) || !errors.Is(err, tc.err) {
				t.Errorf("incr by 5 of a live key, ma answering %q: %v %q, %v; want %v %q, %v",
					tc.ma, a.Outcome, a.Value, err, tc.want.Outcome, tc.want.Value, tc.err)
			}
			looks, mas := 0, 0
			for _, s := range b.sent {
				switch {
				case strings.HasPrefix(s, "mg "):
					looks++
				case strings.HasPrefix(s, "ma k ") && strings.Contains(s+" ", " C5 ") && strings.Contains(s+" ", " D5 "):
					mas++
				default:
					t.Errorf("sent %q; want only mg k and ma k guarded by C5 with D5", s)
				}
			}
			if looks != tc.lookups || mas != tc.lookups {
				t.Errorf("sent %q: %d looks and %d ma; want %d of each", b.sent, looks, mas, tc.lookups)
			}
		})
	}
}
