package thirdparty

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
)

func TestPeerStoreKeysIPAndPort(t *testing.T) {
	var ps PeerStore
	ih := [20]byte{1}
	a := netip.MustParseAddrPort("127.1.0.1:6881")
	b := netip.MustParseAddrPort("127.1.0.1:6882") // same IP, another port
	ps.Add(ih, a)
	ps.AddPeer(ih, krpc.NodeAddr{IP: net.ParseIP("127.1.0.1"), Port: 6882}) // 16-byte form of an IPv4 address
	ps.AddPeer(ih, krpc.NodeAddr{IP: net.ParseIP("127.1.0.9"), Port: 0})    // no port: not a peer
	got := ps.List(ih)
	slices.SortFunc(got, netip.AddrPort.Compare)
	if want := []netip.AddrPort{a, b}; !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	if !ps.Has(ih, b) || ps.Has([20]byte{2}, a) {
		t.Errorf("Has: %v for a stored peer, %v for another hash", ps.Has(ih, b), ps.Has([20]byte{2}, a))
	}
	// BEP 5 compact values are 6 bytes for IPv4: the IP must come out as 4.
	for _, na := range ps.GetPeers(ih) {
		if len(na.IP) != 4 {
			t.Errorf("GetPeers gave a %d-byte IP %v", len(na.IP), na.IP)
		}
	}
}

func TestDelayConn(t *testing.T) {
	recv, err := ListenLoopback(LoopbackIP(3000))
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	raw, err := ListenLoopback(LoopbackIP(3001))
	if err != nil {
		t.Fatal(err)
	}
	const delay = 50 * time.Millisecond
	c := WithDelay(delay, 0)(raw)
	start := time.Now()
	if _, err := c.WriteTo([]byte("hello"), recv.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	recv.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, _, err := recv.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	// A lower bound only: the datagram must not leave before its delay.
	if d := time.Since(start); d < delay {
		t.Errorf("datagram arrived after %v, before the %v delay", d, delay)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteTo([]byte("late"), recv.LocalAddr()); err == nil {
		t.Error("WriteTo after Close succeeded")
	}
	if c := WithDelay(0, 0)(raw); c != net.PacketConn(raw) {
		t.Error("WithDelay(0, 0) wrapped the socket")
	}
}

// TestAnacrolixNet starts a small anacrolix network; a peer announced
// through one server must be found, with its own port, by another's lookup.
func TestAnacrolixNet(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	nodes, err := StartAnacrolixNet(ctx, 10, NetConfig{IP: func(i int) netip.Addr { return LoopbackIP(3100 + i) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		defer n.Close()
	}
	ih := [20]byte{0xab, 0xcd}
	if err := nodes[2].Announce(ctx, ih, 7001); err != nil {
		t.Fatal(err)
	}
	peer := netip.AddrPortFrom(nodes[2].Addr.Addr(), 7001)
	var res AnacrolixLookup
	err = WaitFor(ctx, 100*time.Millisecond, func() bool {
		res, err = nodes[8].Lookup(ctx, ih, 0, []netip.AddrPort{peer}, true)
		return err == nil && res.Peers[peer]
	})
	if err != nil {
		t.Fatalf("lookup from %v: found %v, want %v: %v", nodes[8].Addr, res.Peers, peer, err)
	}
	if res.AllPeers <= 0 || res.FirstPeer <= 0 || res.Queried == 0 {
		t.Errorf("lookup stats %+v", res)
	}
}

// TestLibtorrentMagnet runs lt.py's one-shot magnet mode.
func TestLibtorrentMagnet(t *testing.T) {
	if _, err := LibtorrentVersion(); err != nil {
		t.Fatal(err) // scripts/test.sh installs it
	}
	cmd, err := LibtorrentCommand("magnet", "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=x")
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("lt.py magnet: %v", err)
	}
	if want := `"info_hash": "0123456789abcdef0123456789abcdef01234567"`; !strings.Contains(string(out), want) {
		t.Errorf("lt.py magnet printed %s, want %s in it", out, want)
	}
}

// TestLibtorrentProcess drives lt.py node through Process: it must report
// ready with its address and id, answer a command, and end on Stop.
func TestLibtorrentProcess(t *testing.T) {
	if _, err := LibtorrentVersion(); err != nil {
		t.Fatal(err) // scripts/test.sh installs it
	}
	type event struct {
		Event, Addr, ID, Msg string
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	p, err := StartProcess(func(line string, err error) event {
		return event{Event: "error", Msg: line}
	}, "node", "--listen", LoopbackIP(3200).String(), "--max-seconds", "60")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	ready, err := p.Wait(ctx, 0, func(e event) bool { return e.Event == "ready" || e.Event == "error" })
	if err != nil || ready.Event != "ready" {
		t.Fatalf("no ready event: %+v, %v; stderr:\n%s", ready, err, p.Stderr())
	}
	if ap, err := netip.ParseAddrPort(ready.Addr); err != nil || ap.Addr() != LoopbackIP(3200) {
		t.Errorf("ready at %q (%v), want %v", ready.Addr, err, LoopbackIP(3200))
	}
	m := p.Mark()
	if err := p.Send("id"); err != nil {
		t.Fatal(err)
	}
	id, err := p.Wait(ctx, m, func(e event) bool { return e.Event == "id" })
	if err != nil || id.ID != ready.ID || len(id.ID) != 40 {
		t.Errorf("id event %+v (%v), want id %s", id, err, ready.ID)
	}
	p.Stop()
	if _, err := p.Wait(ctx, p.Mark(), func(event) bool { return false }); err == nil || ctx.Err() != nil {
		t.Errorf("Wait after Stop: %v, want the exit reported", err)
	}
}

// TestLibtorrentCrashTrace kills lt.py node by SIGSEGV, as the binding's
// crashes do: Crash must report the signal and the trace Python's fault
// handler prints.
func TestLibtorrentCrashTrace(t *testing.T) {
	if _, err := LibtorrentVersion(); err != nil {
		t.Fatal(err) // scripts/test.sh installs it
	}
	type event struct{ Event string }
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	p, err := StartProcess(func(string, error) event { return event{"error"} },
		"node", "--listen", LoopbackIP(3201).String(), "--max-seconds", "60")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if _, err := p.Wait(ctx, 0, func(e event) bool { return e.Event == "ready" }); err != nil {
		t.Fatal(err)
	}
	if c := p.Crash(0); c != nil {
		t.Fatalf("a running process reported a crash: %v", c)
	}
	// To the main thread (its thread id is the process id): a process-wide
	// signal may land on one of libtorrent's threads, where the trace has
	// no Python frame of lt.py and faulthandler's dump can fault in turn
	// (a bus error).
	if err := syscall.Tgkill(p.cmd.Process.Pid, p.cmd.Process.Pid, syscall.SIGSEGV); err != nil {
		t.Fatal(err)
	}
	c := p.Crash(10 * time.Second)
	if c == nil {
		t.Fatalf("no crash reported; stderr:\n%s", p.Stderr())
	}
	// The status and the start of faulthandler's trace are captured. How
	// much of the stacks follows is not certain: faulthandler reads the
	// other threads' frames while libtorrent's threads run, and its dump
	// is sometimes cut short (or faults again, a bus error).
	if !strings.Contains(c.Status, "signal: segmentation fault") || !strings.Contains(c.Trace, "Fatal Python error: Segmentation fault") {
		t.Errorf("crash %q, trace:\n%s", c.Status, c.Trace)
	}
}

// policyTB records what RetryAfterCrash does to a test.
type policyTB struct {
	testing.TB
	skipped, failed bool
	logs            []string
}

func (tb *policyTB) Helper() {}
func (tb *policyTB) Logf(format string, args ...any) {
	tb.logs = append(tb.logs, fmt.Sprintf(format, args...))
}
func (tb *policyTB) Skipf(format string, args ...any) { tb.skipped = true; runtime.Goexit() }
func (tb *policyTB) Fatalf(format string, args ...any) {
	tb.failed = true
	runtime.Goexit()
}

func TestRetryAfterCrash(t *testing.T) {
	crash := &Crash{Status: "signal: segmentation fault", Trace: "Fatal Python error: Segmentation fault"}
	tests := []struct {
		name            string
		outcomes        []Outcome
		tries           int
		skipped, failed bool
	}{
		{"no crash", []Outcome{{}}, 1, false, false},
		{"crash before contact, then fine", []Outcome{{Crash: crash}, {}}, 2, false, false},
		{"crash before contact every time", []Outcome{{Crash: crash}, {Crash: crash}, {Crash: crash}}, MaxStartCrashes, false, true},
		{"crash after contact, then fine", []Outcome{{Crash: crash, Contact: true}, {}}, 2, false, false},
		{"crash after contact twice", []Outcome{{Crash: crash, Contact: true}, {Crash: crash, Contact: true}}, 2, false, true},
		{"crash after contact, then before, then fine", []Outcome{{Crash: crash, Contact: true}, {Crash: crash}, {}}, 3, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := &policyTB{TB: t}
			tries := 0
			done := make(chan struct{})
			go func() {
				defer close(done)
				RetryAfterCrash(tb, "lt.py", func(try int) Outcome {
					tries++
					if try != tries || try > len(tt.outcomes) {
						t.Errorf("try %d after %d tries", try, tries-1)
						return Outcome{}
					}
					return tt.outcomes[try-1]
				})
			}()
			<-done
			if tries != tt.tries || tb.skipped != tt.skipped || tb.failed != tt.failed {
				t.Errorf("%d tries, skipped %v, failed %v; want %d, %v, %v", tries, tb.skipped, tb.failed, tt.tries, tt.skipped, tt.failed)
			}
		})
	}
}
