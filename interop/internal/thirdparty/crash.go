package thirdparty

import (
	"fmt"
	"testing"
)

// Crash is a third-party process that died by a signal.
type Crash struct {
	Status string // "signal: segmentation fault"
	// Trace is the end of its stderr. lt.py runs with Python's fault
	// handler on, so it holds the Python stack of every thread at the
	// crash.
	Trace string
}

func (c *Crash) String() string {
	return fmt.Sprintf("%s; stderr (Python fault handler trace last):\n%s", c.Status, c.Trace)
}

// Outcome is how one attempt of a test with a third-party process ended.
type Outcome struct {
	// Crash is the process's crash, nil if it did not crash. An attempt
	// whose process crashed returns without failing the test: the policy
	// decides.
	Crash *Crash
	// Contact reports that the process and peerfind had exchanged packets
	// (or peerfind had been pointed at it and started) before the crash;
	// each test defines it concretely.
	Contact bool
}

// MaxStartCrashes is how many crashes before any contact with peerfind a
// test tolerates, each followed by a new process, before it fails.
const MaxStartCrashes = 3

// RetryAfterCrash runs attempt (try 1, 2, …) and applies the crash policy
// to each outcome. A test never skips for a crash:
//   - no crash: done; the attempt has passed or failed the test itself;
//   - a crash before any contact with peerfind (a known crash of
//     python3-libtorrent's binding inside libstdc++) says nothing about
//     peerfind: the attempt runs again with a new process, and the
//     MaxStartCrashes-th such crash fails the test;
//   - a crash after contact may have been caused by what peerfind sent: the
//     attempt runs once more with a new process, and a second crash after
//     contact fails the test with the crash trace.
func RetryAfterCrash(tb testing.TB, what string, attempt func(try int) Outcome) {
	tb.Helper()
	before, after := 0, 0
	for try := 1; ; try++ {
		o := attempt(try)
		switch {
		case o.Crash == nil:
			return
		case !o.Contact:
			before++
			if before == MaxStartCrashes {
				tb.Fatalf("%s crashed %d times before any contact with peerfind: %s", what, before, o.Crash)
			}
			tb.Logf("%s crashed before any contact with peerfind; starting it again. Crash: %s", what, o.Crash.Status)
		default:
			after++
			if after == 2 {
				tb.Fatalf("%s crashed again after contact with peerfind (%d runs): %s", what, try, o.Crash)
			}
			tb.Logf("%s crashed after contact with peerfind; running it again once. Crash: %s", what, o.Crash)
		}
	}
}
