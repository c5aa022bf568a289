//go:build race

package proxy_test

// raceEnabled: the race detector slows everything several times over, too
// much for scenarios that measure timing against a 100 ms timeout.
const raceEnabled = true
