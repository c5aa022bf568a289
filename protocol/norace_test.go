// Whether the race detector is on: allocation counts are meaningless under it.

//go:build !race

package protocol

const raceEnabled = false
