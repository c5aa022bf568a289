// The ketama continuum: points on a 32-bit circle, built the way twemproxy
// (nc_ketama.c) or libmemcached builds them, and the lookup over it.

package ring

import (
	"cmp"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Ketama flavours (Options.Compat).
const (
	compatTwemproxy    = "twemproxy"
	compatLibmemcached = "libmemcached"
)

const (
	ketamaPointsPerServer = 160 // weighted ketama: twemproxy, libmemcached with weights
	plainPointsPerServer  = 100 // libmemcached ketama when every weight is 1
	defaultKetamaPort     = 11211
)

// point is one place on the circle and the node that owns it.
type point struct {
	value uint32
	node  int32
}

// continuum is the sorted circle, split into two slices so the search only
// touches values, with an index over the circle's top bits.
type continuum struct {
	values []uint32 // ascending
	owners []int32  // owners[i] owns values[i]

	// The circle is cut into len(starts)-1 equal arcs, a power of two at
	// least len(values), so an arc holds about one point: arc a is the
	// hashes with h>>shift == a, and starts[a] is the index of its first
	// point at or after the arc's start (starts[last] is len(values)).
	// The first point at or after h is then among values[starts[a]:
	// starts[a+1]], or else values[starts[a+1]]. A binary search over 480
	// points (3 nodes) was a twentieth of shepherd's CPU in 100-key gets.
	starts []uint32
	shift  uint
}

// index builds starts and shift over values.
func (c *continuum) index() {
	bits := 0
	for 1<<bits < len(c.values) {
		bits++
	}
	arcs := 1 << bits
	c.shift = uint(32 - bits)
	c.starts = make([]uint32, arcs+1)
	i := 0
	for a := range arcs {
		for i < len(c.values) && uint64(c.values[i]) < uint64(a)<<c.shift {
			i++
		}
		c.starts[a] = uint32(i)
	}
	c.starts[arcs] = uint32(len(c.values))
}

// pick returns the owner of the first point at or after h, wrapping to the
// first point, as ketama_dispatch does.
func (c *continuum) pick(h uint32) int {
	a := h >> c.shift
	i, end := int(c.starts[a]), int(c.starts[a+1])
	for i < end && c.values[i] < h {
		i++
	}
	if i == len(c.values) {
		i = 0
	}
	return int(c.owners[i])
}

// newKetama builds the continuum for the compat flavour:
//
//   - twemproxy: weightedPoints named by twemproxyName, servers taken in
//     twemproxyOrder.
//   - libmemcached: as soon as any weight is above 1, libmemcached switches
//     to its weighted ketama, the same points as twemproxy's but named by
//     libmemcachedName, in the order given; while every weight is 1 it
//     uses plainPoints.
func newKetama(nodes []Node, opts Options, h hashFunc) (*continuum, error) {
	if opts.Compat != compatLibmemcached {
		names, err := pointNames(nodes, twemproxyName)
		if err != nil {
			return nil, err
		}
		return sortPoints(weightedPoints(nodes, names, twemproxyOrder(names))), nil
	}
	names, err := pointNames(nodes, libmemcachedName)
	if err != nil {
		return nil, err
	}
	if anyWeighted(nodes) {
		return sortPoints(weightedPoints(nodes, names, identity(len(nodes)))), nil
	}
	return sortPoints(plainPoints(names, h)), nil
}

// pointNames names every node's points and rejects two nodes with one name:
// they would share every point.
func pointNames(nodes []Node, name func(Node) (string, error)) ([]string, error) {
	names := make([]string, len(nodes))
	seen := make(map[string]int, len(nodes))
	for i, n := range nodes {
		var err error
		if names[i], err = name(n); err != nil {
			return nil, err
		}
		if j, dup := seen[names[i]]; dup {
			return nil, fmt.Errorf("%w: nodes %d and %d are both named %q", ErrDuplicate, j, i, names[i])
		}
		seen[names[i]] = i
	}
	return names, nil
}

// twemproxyOrder is the order twemproxy keeps a pool's servers in. Checking
// for duplicates (conf_validate_server) it sorts them by name, shorter
// names first and equal lengths bytewise, and keeps that order: its
// continuum and its modula list are built in it.
func twemproxyOrder(names []string) []int {
	order := identity(len(names))
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(len(names[a]), len(names[b])); c != 0 {
			return c
		}
		return strings.Compare(names[a], names[b])
	})
	return order
}

func identity(n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	return order
}

func anyWeighted(nodes []Node) bool {
	for _, n := range nodes {
		if n.Weight > 1 {
			return true
		}
	}
	return false
}

// sortPoints orders points by value. The sort is stable, so equal values
// keep server order, as glibc's merge-sorting qsort leaves them.
func sortPoints(pts []point) *continuum {
	slices.SortStableFunc(pts, func(a, b point) int { return cmp.Compare(a.value, b.value) })
	c := &continuum{values: make([]uint32, len(pts)), owners: make([]int32, len(pts))}
	for i, p := range pts {
		c.values[i], c.owners[i] = p.value, p.node
	}
	c.index()
	return c
}

// weightedPoints gives each node 160 points scaled by its weight share,
// four per md5 digest of "name-N" (N from 0): the little-endian uint32s at
// digest bytes 0, 4, 8 and 12. Nodes are visited in order, which only
// matters for points of equal value.
func weightedPoints(nodes []Node, names []string, order []int) []point {
	total := 0
	for _, n := range nodes {
		total += n.Weight
	}
	var pts []point
	var buf []byte
	for _, i := range order {
		for j := range weightedPointCount(nodes[i].Weight, total, len(nodes)) / 4 {
			buf = strconv.AppendInt(append(append(buf[:0], names[i]...), '-'), int64(j), 10)
			sum := md5.Sum(buf)
			for a := 0; a < 16; a += 4 {
				pts = append(pts, point{binary.LittleEndian.Uint32(sum[a:]), int32(i)})
			}
		}
	}
	return pts
}

// weightedPointCount is twemproxy's (and libmemcached's) point count for a
// node, computed in float32 exactly as the C does:
//
//	pct = (float)weight / (float)total_weight;
//	floorf((float)(pct * 160 / 4 * (float)nodes + 0.0000000001)) * 4
//
// Every step is converted explicitly so no fused or wider arithmetic can
// change a rounding.
func weightedPointCount(weight, total, nodes int) int {
	pct := float32(weight) / float32(total)
	x := float32(float32(pct*ketamaPointsPerServer)/4) * float32(nodes)
	x = float32(float64(x) + 0.0000000001)
	return int(math.Floor(float64(x))) * 4
}

// plainPoints is libmemcached's unweighted ketama: 100 points per node, one
// per name "name-N" (N from 0), each the key hash of that name.
func plainPoints(names []string, h hashFunc) []point {
	pts := make([]point, 0, len(names)*plainPointsPerServer)
	var buf []byte
	for i, name := range names {
		for j := range plainPointsPerServer {
			buf = strconv.AppendInt(append(append(buf[:0], name...), '-'), int64(j), 10)
			pts = append(pts, point{h(buf), int32(i)})
		}
	}
	return pts
}

// twemproxyName is the string twemproxy names a server's points after: its
// name when it has one, else "host:port", or just "host" when the port is
// 11211 (libmemcached's convention). A unix socket without a name keeps the
// ":" twemproxy's parser leaves after the path ("/tmp/mc.sock:").
//
// twemproxy formats "name-N" into an 86-byte buffer yet hashes the length
// snprintf reports, so for names over about 80 bytes its points depend on
// memory past the buffer; shepherd hashes the whole name.
func twemproxyName(n Node) (string, error) {
	if n.Name != "" {
		return n.Name, nil
	}
	if isUnix(n.Addr) {
		return n.Addr + ":", nil
	}
	host, port, err := splitAddr(n.Addr)
	if err != nil {
		return "", err
	}
	if port == defaultKetamaPort {
		return host, nil
	}
	return host + ":" + strconv.Itoa(port), nil
}

// libmemcachedName is the string libmemcached names a server's points
// after: "host:port", or "host" when the port is 11211. Node names do not
// exist in libmemcached and are ignored. A unix socket has port 0.
func libmemcachedName(n Node) (string, error) {
	if isUnix(n.Addr) {
		return n.Addr + ":0", nil
	}
	host, port, err := splitAddr(n.Addr)
	if err != nil {
		return "", err
	}
	if port == defaultKetamaPort {
		return host, nil
	}
	return host + ":" + strconv.Itoa(port), nil
}

func isUnix(addr string) bool { return strings.HasPrefix(addr, "/") }

// splitAddr splits "host:port" (or "[v6]:port") and checks the port.
func splitAddr(addr string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%w %q: %v", ErrAddr, addr, err)
	}
	if port, err = parsePort(p); err != nil || host == "" {
		return "", 0, fmt.Errorf("%w %q: want host:port", ErrAddr, addr)
	}
	return host, port, nil
}

func parsePort(s string) (int, error) {
	port, err := strconv.Atoi(s)
	if err != nil || !isDigits(s) || port <= 0 || port > 65535 {
		return 0, fmt.Errorf("%w: port %q", ErrAddr, s)
	}
	return port, nil
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
