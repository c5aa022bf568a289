// Pools and nodes: the ring of a pool, its backend nodes and how a key
// finds its node.
package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shepherd-proxy/shepherd/protocol"
	"github.com/shepherd-proxy/shepherd/ring"
)

// node is one backend memcached server.
type node struct {
	addr    string // as configured: host:port or a unix socket path
	network string
	pool    *pool
	conns   []*backendConn
	maxIn   int64

	inflight   atomic.Int64
	requests   atomic.Uint64
	errors     atomic.Uint64
	connErrors atomic.Uint64
	dials      atomic.Uint64
	latency    prometheus.Observer
}

func newNode(p *pool, rn ring.Node, m *metrics) *node {
	n := &node{addr: rn.Addr, network: "tcp", pool: p, maxIn: int64(p.cfg.MaxInflight)}
	if strings.HasPrefix(rn.Addr, "/") || strings.HasPrefix(rn.Addr, "unix:") {
		n.network = "unix"
	}
	n.latency = m.backendLatency.WithLabelValues(p.cfg.Name, rn.Addr)
	perConn := p.cfg.MaxInflight / p.cfg.Connections
	for i := 0; i < p.cfg.Connections; i++ {
		n.conns = append(n.conns, &backendConn{n: n, in: make(chan *op, perConn+1), quit: p.quit})
	}
	return n
}

func (n *node) start() {
	for _, c := range n.conns {
		go c.writeLoop()
	}
}

// send queues o for the node on the connection that lane picks; o is
// finished with an error when the node is saturated. The reply arrives
// within the pool's timeout. One client always uses one lane, so that its
// pipelined commands to a node run in the order it sent them.
func (n *node) send(o *op, lane uint32) {
	o.start = time.Now()
	o.deadline = o.start.Add(n.pool.cfg.Timeout)
	n.requests.Add(1)
	if n.inflight.Add(1) > n.maxIn {
		o.finish(ErrBackendBusy)
		return
	}
	c := n.conns[int(lane)%len(n.conns)]
	if !c.enqueue(o) {
		o.finish(ErrBackendBusy)
	}
}

// finished is called once per op when it completes.
func (n *node) finished(o *op) {
	n.inflight.Add(-1)
	if o.err != nil {
		n.errors.Add(1)
		return
	}
	n.latency.Observe(time.Since(o.start).Seconds())
}

// dial opens a new wire connection and starts its reader.
func (n *node) dial() (*wireConn, error) {
	n.dials.Add(1)
	d := net.Dialer{Timeout: n.pool.cfg.ConnectTimeout}
	addr := strings.TrimPrefix(n.addr, "unix:")
	nc, err := d.DialContext(context.Background(), n.network, addr)
	if err != nil {
		n.connErrors.Add(1)
		return nil, n.wrap(err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		tc.SetKeepAlive(true)
	}
	w := &wireConn{n: n, nc: nc, br: bufio.NewReaderSize(nc, 32<<10)}
	go w.readLoop()
	return w, nil
}

// view is an immutable pairing of a ring with the nodes its indexes name.
type view struct {
	ring  *ring.Ring
	nodes []*node
}

// pool is a named set of nodes behind one ring.
type pool struct {
	cfg   *PoolConfig
	nodes []*node
	view  atomic.Pointer[view]
	quit  chan struct{}
}

func newPool(cfg *PoolConfig, m *metrics, quit chan struct{}) (*pool, error) {
	p := &pool{cfg: cfg, quit: quit}
	r, err := ring.New(cfg.Servers, cfg.Ring)
	if err != nil {
		return nil, fmt.Errorf("proxy: pool %q: %w", cfg.Name, err)
	}
	for _, s := range cfg.Servers {
		p.nodes = append(p.nodes, newNode(p, s, m))
	}
	p.view.Store(&view{ring: r, nodes: p.nodes})
	return p, nil
}

func (p *pool) start() {
	for _, n := range p.nodes {
		n.start()
	}
}

// lookup returns the node owning key.
func (p *pool) lookup(key []byte) *node {
	v := p.view.Load()
	return v.nodes[v.ring.Lookup(key)]
}

// router picks a pool for a key: the longest matching route prefix, else
// the default pool. A listener bound to one pool bypasses it.
type router struct {
	routes []routeEntry // longest prefix first
	def    *pool
}

type routeEntry struct {
	prefix string
	pool   *pool
}

func (r *router) pool(key []byte) *pool {
	for _, e := range r.routes {
		if len(key) >= len(e.prefix) && string(key[:len(e.prefix)]) == e.prefix {
			return e.pool
		}
	}
	return r.def
}

// routeKey returns the node for a request key (decoding base64 meta keys).
func (r *router) node(req *protocol.Request, key []byte, scratch *[]byte) *node {
	k := key
	if req.Base64 {
		k = protocol.RouteKey(req, key, *scratch)
		*scratch = k[:0]
	}
	return r.pool(k).lookup(k)
}
