package e2e

// opentracker (Debian package) on 127.0.0.1: the tracker side of the
// third-party swarm, started by internal/testutil as in the tracker
// package's real-tracker tests.

import (
	"testing"

	"github.com/peerfind/peerfind/internal/testutil"
)

// opentracker is one running opentracker process.
type opentracker struct {
	*testutil.Opentracker
	Version string
}

// requireOpentracker returns opentracker's path or fails the test, saying
// why (scripts/test.sh installs it).
func requireOpentracker(t testing.TB) string {
	t.Helper()
	bin, err := testutil.OpentrackerPath()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// freePorts returns a TCP and a UDP port on 127.0.0.1 that were free a
// moment ago; a daemon cannot inherit our sockets, so the caller retries if
// another process takes one in between.
func freePorts(t testing.TB) (tcp, udp int) {
	t.Helper()
	tcp, udp, err := testutil.FreePorts()
	if err != nil {
		t.Fatal(err)
	}
	return tcp, udp
}

// errExited is startOpentracker's error (wrapped) when the process exits by
// itself: most often a port taken in between.
var errExited = testutil.ErrExited

// startOpentracker runs opentracker on 127.0.0.1 with the given ports and a
// whitelist holding the hex info hashes (the Debian build is whitelist-only)
// in the test's temp dir, and waits until it serves. It returns an error
// wrapping errExited when the process exits by itself. The process is
// stopped in t.Cleanup.
func startOpentracker(t testing.TB, bin string, tcp, udp int, hexHashes ...string) (*opentracker, error) {
	t.Helper()
	p, err := testutil.StartOpentracker(bin, t.TempDir(), tcp, udp, hexHashes...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("opentracker output:\n%s", p.Output())
		}
	})
	return &opentracker{Opentracker: p, Version: testutil.PackageVersion("opentracker")}, nil
}
