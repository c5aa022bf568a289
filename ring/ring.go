// Package ring maps keys to backend nodes with ketama consistent hashing
// (Richard Jones' libketama, last.fm 2007), placement-compatible with
// twemproxy and libmemcached, and with jump and modula as alternatives.
//
// A ring is built once from a node list and never changes; a membership
// change builds a new ring.
package ring

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Errors New and ParseNode return, wrapped with details.
var (
	ErrNoNodes      = errors.New("ring: no nodes")
	ErrWeight       = errors.New("ring: bad weight")
	ErrAddr         = errors.New("ring: bad address")
	ErrDistribution = errors.New("ring: unknown distribution")
	ErrHash         = errors.New("ring: unknown hash")
	ErrCompat       = errors.New("ring: unknown compat")
	ErrHashTag      = errors.New("ring: hash tag must be exactly two bytes")
	ErrSyntax       = errors.New("ring: bad server syntax")
	ErrDuplicate    = errors.New("ring: duplicate node")
)

// Node is one backend server as written in a pool's server list,
// "host:port:weight [name]" (twemproxy's format).
type Node struct {
	Addr   string // host:port, or a unix socket path
	Weight int    // > 0
	Name   string // optional; when set it names the node's ketama points
}

// Options choose how keys are placed. The zero value is ketama over md5,
// twemproxy-compatible, without hash tags. (twemproxy's own default hash,
// when a nutcracker.yml names none, is fnv1a_64: a config loader reading
// such a file should say so explicitly.)
type Options struct {
	// Distribution is "ketama" (default), "jump" or "modula".
	//   - ketama: see Compat.
	//   - jump: Lamping and Veach's jump hash, fed the key hash widened to
	//     uint64; weights are ignored.
	//   - modula: twemproxy's: each node owns weight slots, laid out in
	//     twemproxy's server order (by name, shorter first); a key takes
	//     slot hash % total weight.
	Distribution string

	// Hash is one of twemproxy's hash names (see Hashes): md5 (default),
	// fnv1a_64, one_at_a_time (default under libmemcached compat), ...
	Hash string

	// HashTag is two bytes such as "{}": a key containing them hashes only
	// the bytes between the first HashTag[0] and the next HashTag[1], if
	// that span is not empty. Empty means the whole key is hashed.
	HashTag string

	// Compat is the ketama flavour, the placement it reproduces exactly:
	//   - "twemproxy" (default): 160 points per node scaled by its weight
	//     share (in float32, as twemproxy computes it), four per md5 of
	//     "name-N"; name is Node.Name, else "host:port", else "host" on
	//     port 11211.
	//   - "libmemcached": MEMCACHED_BEHAVIOR_KETAMA (pylibmc's
	//     {"ketama": True}). While every weight is 1: 100 points per node,
	//     each the key hash of "host:port-N" ("host-N" on port 11211). Once
	//     any weight is above 1 libmemcached switches to its weighted ketama,
	//     twemproxy's points named "host:port"/"host". Node.Name is ignored.
	// Compat does not affect jump or modula.
	Compat string
}

// Distributions returns the values Options.Distribution accepts, the
// default first.
func Distributions() []string { return []string{distKetama, distJump, distModula} }

// Compats returns the values Options.Compat accepts, the default first.
func Compats() []string { return []string{compatTwemproxy, compatLibmemcached} }

// Distributions (Options.Distribution).
const (
	distKetama = "ketama"
	distJump   = "jump"
	distModula = "modula"
)

// WithDefaults returns o with its empty enumerations named: ketama,
// twemproxy compat, and the compat's hash (md5, or one_at_a_time under
// libmemcached). It is the one place the ring's defaults are decided: New
// applies it, and a config that shows or compares options (shepherd's
// proxy.Config.FillDefaults) fills them with it. HashTag stays: empty
// means the whole key is hashed.
func (o Options) WithDefaults() Options {
	if o.Distribution == "" {
		o.Distribution = distKetama
	}
	if o.Compat == "" {
		o.Compat = compatTwemproxy
	}
	if o.Hash == "" {
		o.Hash = "md5"
		if o.Compat == compatLibmemcached {
			o.Hash = "one_at_a_time"
		}
	}
	return o
}

// Ring is an immutable key → node index map. It is safe for concurrent use.
// The zero value has no nodes and must not be used; build one with New.
type Ring struct {
	nodes  []Node
	hash   hashFunc
	tag    [2]byte
	tagged bool
	spec   hashSpec // hash and tag, as Sums tells rings apart
	pick   picker
}

// picker turns a key hash into a node index.
type picker interface {
	pick(h uint32) int
}

// maxTotalWeight keeps weight sums inside twemproxy's uint32 arithmetic.
const maxTotalWeight = math.MaxInt32

// New builds a ring over nodes. The nodes slice is copied.
func New(nodes []Node, opts Options) (*Ring, error) {
	if len(nodes) == 0 {
		return nil, ErrNoNodes
	}
	if err := checkNodes(nodes); err != nil {
		return nil, err
	}
	opts = opts.WithDefaults()
	if !slices.Contains(Compats(), opts.Compat) {
		return nil, fmt.Errorf("%w %q", ErrCompat, opts.Compat)
	}
	h, ok := hashes[opts.Hash]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrHash, opts.Hash)
	}
	var err error
	r := &Ring{nodes: append([]Node(nil), nodes...), hash: h}
	if r.tag, r.tagged, err = parseHashTag(opts.HashTag); err != nil {
		return nil, err
	}
	r.spec = specOf(opts.Hash, r.tag, r.tagged)
	if r.pick, err = newPicker(r.nodes, opts, h); err != nil {
		return nil, err
	}
	return r, nil
}

// checkNodes rejects bad addresses, non-positive weights, weight sums past
// maxTotalWeight and the same address twice.
func checkNodes(nodes []Node) error {
	total := 0
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		if seen[n.Addr] {
			return fmt.Errorf("%w: %s appears twice", ErrDuplicate, n.Addr)
		}
		seen[n.Addr] = true
		if err := checkAddr(n.Addr); err != nil {
			return err
		}
		if n.Weight <= 0 {
			return fmt.Errorf("%w: node %s has weight %d; want > 0", ErrWeight, n.Addr, n.Weight)
		}
		if total += n.Weight; total > maxTotalWeight {
			return fmt.Errorf("%w: total weight exceeds %d", ErrWeight, maxTotalWeight)
		}
	}
	return nil
}

// checkAddr accepts a unix socket path or host:port.
func checkAddr(addr string) error {
	if isUnix(addr) {
		return nil
	}
	_, _, err := splitAddr(addr)
	return err
}

func newPicker(nodes []Node, opts Options, h hashFunc) (picker, error) {
	switch opts.Distribution {
	case distKetama:
		return newKetama(nodes, opts, h)
	case distJump:
		return jumpPicker(len(nodes)), nil
	case distModula:
		return newModula(nodes)
	}
	return nil, fmt.Errorf("%w %q", ErrDistribution, opts.Distribution)
}

// Lookup returns the index into the nodes given to New that owns key.
// An empty key hashes to 0, as in twemproxy. It does not allocate.
func (r *Ring) Lookup(key []byte) int {
	if r.tagged {
		key = hashTag(key, r.tag)
	}
	return r.pick.pick(r.sum(key))
}

// sum hashes key; like twemproxy, an empty key hashes to 0.
func (r *Ring) sum(key []byte) uint32 {
	if len(key) == 0 {
		return 0
	}
	return r.hash(key)
}

// Len returns the number of nodes.
func (r *Ring) Len() int { return len(r.nodes) }

// Nodes returns a copy of the nodes the ring was built over, in order.
func (r *Ring) Nodes() []Node { return append([]Node(nil), r.nodes...) }
