// Package placement decides where a key is served and how a node that
// was out is brought up to date: which node of a pool serves a key now
// (from the pool's full ring, the ring of its healthy nodes, each node's
// health and spool, and the pool's eject policy), the rings a pool
// remembers (Layout), each node's spool of keys it may hold old values of
// (Spool), what a replay writes for a key (CopyOf), the TTL cap of a
// gutter write (CapTTL), and which pool a key routes to (Router). It does no network I/O: nodes are indexes into the
// pool's server list, asked through the Nodes interface, and a spool
// writes to a File it is given; package proxy sends, replays and keeps
// the files.
package placement

import "github.com/shepherd-proxy/shepherd/ring"

// Policy says where an out node's keys go.
type Policy uint8

// Eject policies.
const (
	Rehash Policy = iota // to the ring of the healthy nodes
	Gutter               // to the gutter pool
	Fail                 // nowhere: requests for them fail
)

// Nodes is what placement asks of a pool's nodes, each named by its index
// in the pool's server list.
type Nodes interface {
	// Healthy reports whether node i is in service.
	Healthy(i int) bool
	// Divert is asked for a write of key whose owner i is out. It
	// records key in i's spool and reports true, or reports false,
	// recording nothing, when i has just been readmitted and the write
	// must go to it.
	Divert(i int, key []byte) bool
}

// Route says how a key is served.
type Route uint8

// Routes of a Choice.
const (
	Owner      Route = iota // Node, the key's owner, serves it
	StandIn                 // Node serves it while its owner is out
	ToGutter                // the gutter pool serves it
	Rebuilding              // rehash: the ring that routes around the owner is being built; see View.Rehashed
	None                    // every node is out
	Refused                 // the owner is out and the policy is fail
)

// Choice is where a key goes.
type Choice struct {
	Route Route
	Node  int // the serving node, for Owner and StandIn; else -1
	Owner int // the key's owner in the full ring
}

// Failover reports whether the key's owner is out and another node (or
// pool) serves it, or none may under fail: a request counted against the
// owner. Every node out (None) is not counted.
func (c Choice) Failover() bool { return c.Route != Owner && c.Route != None }

// View is an immutable pairing of a pool's rings with its nodes' health at
// one moment. Safe for concurrent use.
type View struct {
	full   *ring.Ring // every node, whatever its health: who owns a key
	ring   *ring.Ring // the ring in force: full, one of the healthy nodes (rehash), or nil when none may be used
	live   []int      // the server index of each of ring's nodes, when ring is not full
	policy Policy
}

// Build returns the view of the pool whose full ring is full (of servers,
// with opts) for its nodes' health now. Under rehash the ring holds only
// the healthy nodes; under gutter and fail it never changes, and Serve
// sends an out node's keys elsewhere. gutter says whether a gutter pool is
// configured; gutter without one is fail. An error (a ring of the healthy
// nodes that cannot be built, which a valid full ring rules out) comes with
// the view of the full ring.
func Build(full *ring.Ring, servers []ring.Node, opts ring.Options, policy Policy, gutter bool, nodes Nodes) (*View, error) {
	if policy == Gutter && !gutter {
		policy = Fail
	}
	v := &View{full: full, ring: full, policy: policy}
	var live []int
	var healthy []ring.Node
	for i, srv := range servers {
		if nodes.Healthy(i) {
			live = append(live, i)
			healthy = append(healthy, srv)
		}
	}
	switch {
	case len(live) == len(servers) || policy != Rehash:
		return v, nil
	case len(live) == 0:
		v.ring = nil
		return v, nil
	}
	r, err := ring.New(healthy, opts)
	if err != nil {
		return v, err
	}
	v.ring, v.live = r, live
	return v, nil
}

// All reports whether the ring in force is the full ring.
func (v *View) All() bool { return v.ring == v.full }

// Degraded returns the ring in force when it routes around out nodes
// (rehash), with the server index of each of its nodes; else nil.
func (v *View) Degraded() (*ring.Ring, []int) {
	if v.All() || v.ring == nil {
		return nil, nil
	}
	return v.ring, v.live
}

// Serve returns where key goes now. write says the request changes the
// key: a write whose owner is out is diverted (see Nodes.Divert), and goes
// to the owner when that says it was just readmitted.
func (v *View) Serve(key []byte, write bool, nodes Nodes) Choice {
	return v.ServeCached(key, write, nodes, nil)
}

// ServeCached is Serve with the key's hash taken from, and kept in, sums
// (one event loop's cache; nil for none).
func (v *View) ServeCached(key []byte, write bool, nodes Nodes, sums *ring.Sums) Choice {
	if v.All() {
		i := v.full.LookupCached(key, sums)
		if nodes.Healthy(i) {
			return Choice{Route: Owner, Node: i, Owner: i}
		}
		return v.standIn(i, key, write, nodes)
	}
	o := v.full.LookupCached(key, sums)
	if nodes.Healthy(o) || (write && !nodes.Divert(o, key)) {
		return Choice{Route: Owner, Node: o, Owner: o} // readmitted while the view catches up
	}
	if v.ring == nil {
		return Choice{Route: None, Node: -1, Owner: o}
	}
	return Choice{Route: StandIn, Node: v.live[v.ring.LookupCached(key, sums)], Owner: o}
}

// standIn handles a key whose owner o is out while the ring in force is
// the full one: under gutter and fail, and under rehash in the moment
// before the ring is rebuilt.
func (v *View) standIn(o int, key []byte, write bool, nodes Nodes) Choice {
	if write && !nodes.Divert(o, key) {
		return Choice{Route: Owner, Node: o, Owner: o}
	}
	c := Choice{Route: Refused, Node: -1, Owner: o}
	switch v.policy {
	case Gutter:
		c.Route = ToGutter
	case Rehash:
		c.Route = Rebuilding
	}
	return c
}

// Rehashed returns the node that serves key in the ring that routes
// around out nodes, if that is the ring in force. A Rebuilding choice asks
// it of the view in force by then.
func (v *View) Rehashed(key []byte) (int, bool) {
	r, live := v.Degraded()
	if r == nil {
		return -1, false
	}
	return live[r.Lookup(key)], true
}

// Interim returns where key went while its owner was out: to node i,
// its stand-in (StandIn: under rehash, while the ring routes around out
// nodes), to the gutter pool (ToGutter), or nowhere (None).
func (v *View) Interim(key []byte) (r Route, i int) {
	switch v.policy {
	case Gutter:
		return ToGutter, -1
	case Rehash:
		if i, ok := v.Rehashed(key); ok {
			return StandIn, i
		}
	}
	return None, -1
}
