//go:build race

package comments

// raceDetector: the test binary runs with -race.
const raceDetector = true
