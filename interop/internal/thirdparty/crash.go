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

// RetryAfterCrash runs attempt (try 1) and applies the crash policy to its
// outcome:
//   - no crash: done; the attempt has passed or failed the test itself;
//   - a crash before any contact with peerfind says nothing about peerfind:
//     the test skips with the reason (an allowed skip in scripts/test.sh);
//   - a crash after contact may have been caused by what peerfind sent: the
//     attempt runs once more with a new process (try 2), and a second crash
//     after contact fails the test with the crash trace.
func RetryAfterCrash(tb testing.TB, what string, attempt func(try int) Outcome) {
	tb.Helper()
	for try := 1; ; try++ {
		o := attempt(try)
		switch {
		case o.Crash == nil:
			return
		case !o.Contact:
			tb.Skipf("third-party crash before any contact with peerfind: %s died (%s), a known crash of python3-libtorrent's binding inside libstdc++; this run says nothing about peerfind", what, o.Crash.Status)
		case try == 1:
			tb.Logf("%s crashed after contact with peerfind; running it again once. Crash: %s", what, o.Crash)
		default:
			tb.Fatalf("%s crashed again after contact with peerfind (%d runs): %s", what, try, o.Crash)
		}
	}
}
