package thirdparty

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// LTEvent is one JSON line printed by lt.py seed.
type LTEvent struct {
	Event    string   `json:"event"`
	Addr     string   `json:"addr"`
	InfoHash string   `json:"info_hash"`
	Seeding  bool     `json:"seeding"`
	Pieces   int      `json:"pieces"`
	Peers    []string `json:"peers"`
	Msg      string   `json:"msg"`
}

// LTPeerConfig says how to run one libtorrent client (lt.py seed).
type LTPeerConfig struct {
	Dir     string     // its directory: content/ holds the data, if it has it
	Torrent string     // the .torrent path
	Listen  netip.Addr // its loopback IP; the port is the kernel's
	// Connect are peers it connects to once it runs (connect_peer).
	Connect []netip.AddrPort
	// NoAnnounce turns off its trackers and DHT: only the peers it
	// connects to know it.
	NoAnnounce bool
	// DownloadLimit caps its download rate in bytes/s (0: none), so a
	// leecher stays one for a test's length.
	DownloadLimit int
}

// LTPeer is a running libtorrent client.
type LTPeer struct {
	Addr netip.AddrPort // its TCP listen address
	*Process[LTEvent]
}

// StartLTPeer starts lt.py seed with cfg and waits until it listens and has
// checked its files. The caller must Stop it. On a crash while starting,
// the error is a *CrashError.
func StartLTPeer(ctx context.Context, cfg LTPeerConfig) (*LTPeer, error) {
	var conn []string
	for _, a := range cfg.Connect {
		conn = append(conn, a.String())
	}
	args := []string{"seed", "--dir", cfg.Dir, "--torrent", cfg.Torrent, "--listen", cfg.Listen.String(),
		"--connect", strings.Join(conn, ","), "--max-seconds", "150"}
	if cfg.NoAnnounce {
		args = append(args, "--no-announce")
	}
	if cfg.DownloadLimit > 0 {
		args = append(args, "--download-limit", strconv.Itoa(cfg.DownloadLimit))
	}
	p, err := StartProcess(func(line string, err error) LTEvent {
		return LTEvent{Event: "error", Msg: fmt.Sprintf("bad line %q: %v", line, err)}
	}, args...)
	if err != nil {
		return nil, err
	}
	ev, err := p.Wait(ctx, 0, func(e LTEvent) bool { return e.Event == "ready" })
	if err != nil {
		if c := p.Crash(time.Second); c != nil {
			p.Stop()
			return nil, &CrashError{c}
		}
		p.Stop()
		return nil, fmt.Errorf("lt.py seed did not start: %w; stderr: %s", err, p.Stderr())
	}
	addr, err := netip.ParseAddrPort(ev.Addr)
	if err != nil {
		p.Stop()
		return nil, fmt.Errorf("lt.py seed ready at %q: %w", ev.Addr, err)
	}
	return &LTPeer{Addr: addr, Process: p}, nil
}

// Status asks the client what it has and whom it is connected to.
func (p *LTPeer) Status(ctx context.Context) (LTEvent, error) {
	mark := p.Mark()
	if err := p.Send("status"); err != nil {
		return LTEvent{}, err
	}
	return p.Wait(ctx, mark, func(e LTEvent) bool { return e.Event == "status" })
}

// StartLTPeerTB is StartLTPeer for a test: a crash while starting, before
// any contact with peerfind, starts a new process, under the policy of
// RetryAfterCrash (the MaxStartCrashes-th crash fails the test); any other
// error fails it at once. The caller must Stop the peer.
func StartLTPeerTB(ctx context.Context, tb testing.TB, cfg LTPeerConfig) *LTPeer {
	tb.Helper()
	var p *LTPeer
	RetryAfterCrash(tb, "python3-libtorrent (lt.py seed)", func(int) Outcome {
		var err error
		p, err = StartLTPeer(ctx, cfg)
		var ce *CrashError
		if errors.As(err, &ce) {
			return Outcome{Crash: ce.Crash}
		}
		if err != nil {
			tb.Fatal(err)
		}
		return Outcome{}
	})
	return p
}

// CrashError is a third-party process that crashed while starting.
type CrashError struct{ Crash *Crash }

func (e *CrashError) Error() string { return "crashed while starting: " + e.Crash.String() }
