//go:build race

package e2e

// raceEnabled makes TestMain build the binary under test with -race too, so
// that a race in the command shows up when it runs against real software.
const raceEnabled = true
