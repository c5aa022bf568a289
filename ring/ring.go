// Package ring maps keys to backend nodes: ketama consistent hashing
// (placement-compatible with twemproxy and libmemcached), jump and modula.
package ring

// Node is one backend server as written in a pool's server list,
// "host:port:weight [name]" (twemproxy's format).
type Node struct {
	Addr   string // host:port
	Weight int    // > 0
	Name   string // optional; when set it names the node's ketama points
}

// Options choose how keys are placed. The zero value is ketama over md5,
// twemproxy-compatible, without hash tags.
type Options struct {
	Distribution string // "ketama" (default), "jump", "modula"
	Hash         string // twemproxy's hash names; "md5" default, at least "fnv1a_64"
	HashTag      string // two bytes such as "{}"; empty means the whole key
	Compat       string // ketama flavour: "twemproxy" (default) or "libmemcached"
}

// Ring is an immutable key → node index map. It is safe for concurrent use.
type Ring struct{}

// New builds a ring over nodes. TODO(ring helper): implement.
func New(nodes []Node, opts Options) (*Ring, error) { panic("unimplemented") }

// Lookup returns the index into the nodes given to New that owns key.
// It does not allocate.
func (r *Ring) Lookup(key []byte) int { panic("unimplemented") }

// ParseNode parses twemproxy's "host:port:weight [name]" server syntax.
func ParseNode(s string) (Node, error) { panic("unimplemented") }
