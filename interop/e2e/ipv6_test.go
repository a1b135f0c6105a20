package e2e

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// TestIPv6DHT runs peerfind -6 against 12 anacrolix/dht nodes on ::1 (the
// only IPv6 loopback address, so nodes and peers differ by port alone),
// three of which announce a port: BEP 32 "nodes6" and 18-byte "values".
// Every announced peer must be printed, in brackets, and nothing else; with
// -4 the same IPv6-only bootstrap cannot work, which must be said plainly.
func TestIPv6DHT(t *testing.T) {
	if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		c.Close()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	an := startAnaNet(ctx, t, 12, func(int) netip.Addr { return netip.IPv6Loopback() })
	ih := metainfo.Hash{0x6a, 0x6b}
	var want []netip.AddrPort
	for i, nd := range []*anaNode{an.nodes[3], an.nodes[6], an.nodes[9]} {
		port := 7600 + i
		if err := nd.announce(ctx, ih, port); err != nil {
			t.Fatal(err)
		}
		want = append(want, netip.AddrPortFrom(netip.IPv6Loopback(), uint16(port)))
	}
	for _, p := range want {
		if len(an.stored(ih)[p]) == 0 {
			t.Fatalf("no anacrolix node stores %v: %v", p, an.stored(ih))
		}
	}
	boot := []string{"--bootstrap", an.nodes[11].addr.String(), "--bootstrap", an.nodes[0].addr.String()}

	r := runPeerfind(t, append([]string{"peers", ih.String(), "--no-trackers", "-6", "--state-dir", t.TempDir(), "--timeout", "20s"}, boot...)...)
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	got := parsePlain(t, r.stdout)
	for _, p := range want {
		if !got[p] {
			t.Errorf("peer %v not printed; stdout:\n%s", p, r.stdout)
		}
	}
	for p := range got {
		if !slices.Contains(want, p) {
			t.Errorf("printed %v, which nobody announced", p)
		}
		if !strings.HasPrefix(p.String(), "[::1]:") {
			t.Errorf("%v: not an IPv6 address in brackets", p)
		}
	}
	t.Logf("stderr:\n%s", r.stderr)

	// -4 with only IPv6 nodes to start from: the DHT has nothing to
	// bootstrap from, and no tracker either — every source failed.
	r = runPeerfind(t, append([]string{"peers", ih.String(), "--no-trackers", "-4", "--no-state", "--timeout", "5s"}, boot...)...)
	if r.stdout != "" || r.code != 1 {
		t.Errorf("-4 with IPv6 bootstrap nodes: exit %d, stdout %q; want 1 (every source failed) and nothing printed", r.code, r.stdout)
	}
	if m := plainText.FindString(r.stderr); m != "" || !strings.Contains(r.stderr, "no socket of their address family for "+an.nodes[11].addr.String()) {
		t.Errorf("-4 stderr shows a Go value (%q) or does not say why the bootstrap node was not asked:\n%s", m, r.stderr)
	}
	t.Logf("-4: exit %d, stderr:\n%s", r.code, r.stderr)
}
