// Package backend is shepherd's I/O with one memcached node: ops (one
// request and its reply), pipelined connections with one combined writer
// and one strict reader each, dialing and probing. It knows nothing of
// rings, health policy or spools: the proxy supplies those as hooks
// (Config).
package backend

import (
	"errors"
	"sync"
	"time"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// Errors an op can end with. Their text reaches clients in SERVER_ERROR
// lines, from which the proxy strips the "proxy: " prefix; it is kept as
// it was when this code lived in package proxy.
var (
	ErrBusy           = errors.New("proxy: too many requests in flight to backend")
	ErrTimeout        = errors.New("proxy: backend timeout")
	ErrClosed         = errors.New("proxy: backend connection closed")
	ErrUnexpectedData = errors.New("proxy: backend sent data nobody asked for")
	ErrEjected        = errors.New("proxy: node ejected")
	// ErrClientStalled means the client side did not take a streamed part in time.
	ErrClientStalled = errors.New("proxy: client did not take a streamed reply in time")
)

// ClientStall bounds how long a streamed part may take to reach the
// client (the proxy's client write deadline), and PartWait how long a backend
// reader waits for the client side to take a part. A client that stops
// reading for longer loses its connection, and the backend connection it
// held is freed.
const (
	ClientStall = 10 * time.Second
	PartWait    = ClientStall + 5*time.Second
)

// Op is one request to one backend node and, once done, its reply. Get
// one with GetOp, fill Wire (and the other exported request fields), hand
// it to Node.Send, then Wait (or Next and Release for a streamed reply)
// and read Reply and Err. An op is used by one waiter; the node's reader
// writes Reply and Err before it wakes the waiter.
type Op struct {
	Wire     []byte // the request as written to the node
	WriteKey []byte // for writes: the key, for Config.Done (which spools it if the op fails)
	Internal bool   // shepherd's own (spool replay): written even while the node is out
	// Stream (client retrievals only): a reply that outgrows
	// protocol.FlushSize is handed to the waiter in parts while the rest is
	// read, double-buffered: the reader fills one buffer while the waiter
	// writes the other, and waits for the waiter's Release before handing
	// over the next.
	Stream bool
	Reply  protocol.Reply
	Err    error

	kind     protocol.ReplyKind
	node     *Node
	start    time.Time
	deadline time.Time
	done     chan struct{} // receives once per part handed over, and once when finished

	streamed bool   // a part was handed over: a failure now cannot be a miss
	part     []byte // the part the waiter is to write, or nil; set by the reader before it signals done, cleared by Release
	spare    []byte // the buffer the waiter gave back
	ack      chan struct{}
}

var opPool = sync.Pool{New: func() any {
	// done holds up to a part and the finish: a reader never blocks on it.
	return &Op{done: make(chan struct{}, 2), ack: make(chan struct{}, 1)}
}}

// GetOp returns an empty op for n whose reply is read as kind.
func GetOp(n *Node, kind protocol.ReplyKind) *Op {
	o := opPool.Get().(*Op)
	o.node, o.kind, o.Err = n, kind, nil
	o.Wire = o.Wire[:0]
	o.WriteKey = o.WriteKey[:0]
	o.Internal = false
	o.Stream, o.streamed = false, false
	o.Reply.Reset()
	return o
}

// PutOp recycles a finished op whose reply has been consumed.
func PutOp(o *Op) {
	if cap(o.Reply.Raw) > 64<<10 {
		o.Reply.Raw = nil
	}
	if cap(o.Wire) > 64<<10 {
		o.Wire = nil
	}
	select {
	case <-o.ack: // the last part's ack, which no reader waited for
	default:
	}
	o.node, o.part, o.spare = nil, nil, nil
	opPool.Put(o)
}

// Node is the node the op is for.
func (o *Op) Node() *Node { return o.node }

// Start is when the op was sent.
func (o *Op) Start() time.Time { return o.start }

// Streamed reports whether a part of the reply was handed over: a failure
// then cannot be turned into a miss.
func (o *Op) Streamed() bool { return o.streamed }

// Part is the part the last Next returned, until Release.
func (o *Op) Part() []byte { return o.part }

// finish records the outcome and wakes the waiter. Called exactly once.
func (o *Op) finish(err error) {
	o.Err = err
	o.node.finished(o)
	o.done <- struct{}{}
}

// Wait returns the op's outcome, dropping the parts of a streamed reply.
func (o *Op) Wait() error {
	for o.Next() != nil {
		o.Release()
	}
	return o.Err
}

// Next waits for the op's next part, or nil when it is finished (Reply
// then holds the rest).
func (o *Op) Next() []byte {
	<-o.done
	return o.part
}

// Release gives the current part's buffer back to the reader.
func (o *Op) Release() {
	o.spare, o.part = o.part, nil
	o.ack <- struct{}{}
}

func failAll(ops []*Op, err error) {
	for _, o := range ops {
		o.finish(err)
	}
}
