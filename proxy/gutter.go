// Gutter: while a node is out under on_eject: gutter, its keys live in a
// small gutter pool, written there with a capped TTL (placement.CapTTL) so
// that whatever the gutter holds is short-lived.
package proxy

import "time"

// DefaultGutterTTL caps the TTL of values written to a gutter pool.
const DefaultGutterTTL = 10 * time.Second

// gutterTTL returns the TTL cap, in seconds, for keys of from written to p.
func (p *pool) gutterTTL(from *pool) int64 {
	return max(int64(from.settings().GutterTTL/time.Second), 1) // FillDefaults set it
}
