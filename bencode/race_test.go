//go:build race

package bencode

// raceEnabled: the race detector's sync.Pool drops a random share of the
// items put back (to expose misuse), so a pooled scanner is sometimes made
// anew and allocation counts are not meaningful.
const raceEnabled = true
