// Stats: what herd protection did, as counters read by `stats herd` and
// Prometheus.
package herd

import "sync/atomic"

// Stats counts herd events. Its zero value is ready to use.
type Stats struct {
	Wins              atomic.Uint64 // readers (or shepherd) that won a refill
	StaleServed       atomic.Uint64 // reads answered with a stale value
	Holds             atomic.Uint64 // readers held on a cold key being filled
	HoldWakeups       atomic.Uint64 // held readers woken by a fill through this sidecar
	HoldTimeouts      atomic.Uint64 // held readers that got a miss after Hold
	Coalesced         atomic.Uint64 // gets that shared another's backend round trip
	Invalidations     atomic.Uint64 // deletes turned into stale marks
	OriginFetches     atomic.Uint64
	OriginFailures    atomic.Uint64
	LateFillsRejected atomic.Uint64 // fills refused because a newer invalidation or value came first
}
