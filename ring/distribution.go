// The non-ketama distributions: jump consistent hashing and modula.

package ring

import (
	"slices"

	"github.com/dgryski/go-jump"
)

// jumpPicker is Lamping and Veach's jump consistent hash over n nodes. The
// 32-bit key hash is widened to uint64 (zero-extended) as jump's key, so a
// key lands where jump.Hash(uint64(hash(key)), n) says. Weights are ignored.
type jumpPicker int

func (n jumpPicker) pick(h uint32) int { return int(jump.Hash(uint64(h), int(n))) }

// modula is twemproxy's modula: a list in which each node appears weight
// times, in twemproxyOrder, indexed by hash % len(list). It is kept as
// running weight sums (cum[i] is the total weight of the first i+1 nodes in
// order), so a huge weight costs no memory.
type modula struct {
	cum   []uint32
	order []int // order[i] is the node index of the i-th run of slots
}

func newModula(nodes []Node) (modula, error) {
	names, err := pointNames(nodes, twemproxyName)
	if err != nil {
		return modula{}, err
	}
	m := modula{cum: make([]uint32, len(nodes)), order: twemproxyOrder(names)}
	var total uint32
	for i, n := range m.order {
		total += uint32(nodes[n].Weight)
		m.cum[i] = total
	}
	return m, nil
}

// pick finds the node whose slots cover h % total weight.
func (m modula) pick(h uint32) int {
	slot := h % m.cum[len(m.cum)-1]
	i, _ := slices.BinarySearch(m.cum, slot+1)
	return m.order[i]
}
