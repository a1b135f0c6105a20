package dhtinterop

import (
	"net"
	"time"

	"github.com/peerfind/peerfind/interop/internal/thirdparty"
)

// withDelay returns a wrapper for startMixed that adds delay ± jitter/2 to
// every datagram a node sends (thirdparty.DelayConn).
func withDelay(delay, jitter time.Duration) func(net.PacketConn) net.PacketConn {
	return thirdparty.WithDelay(delay, jitter)
}
