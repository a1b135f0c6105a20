package thirdparty

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TransmissionDaemon is Debian's transmission-daemon (3.00), which
// scripts/test.sh installs.
const TransmissionDaemon = "transmission-daemon"

// TransmissionVersion returns transmission-daemon's version line, or an
// error saying how to install it.
func TransmissionVersion() (string, error) {
	out, err := exec.Command(TransmissionDaemon, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s not runnable (apt-get install -y transmission-daemon): %w: %s", TransmissionDaemon, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// Transmission is a running transmission-daemon with its own config
// directory, its peer port and RPC on one loopback IP, no RPC auth, and
// nothing that reaches beyond loopback (no DHT, LPD, port mapping).
type Transmission struct {
	Addr netip.AddrPort // the peer (BitTorrent) listen address
	RPC  string         // the RPC URL

	cmd    *exec.Cmd
	waited chan struct{}
	mu     sync.Mutex
	out    bytes.Buffer // its log (stderr, bounded by the test's length)
	sid    string       // X-Transmission-Session-Id
}

// freePort returns a TCP port free on ip now. transmission-daemon takes
// its ports from settings.json, so the kernel cannot pick them for it;
// the test's own IP keeps clashes with other tests away.
func freePort(ip netip.Addr) (uint16, error) {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return netip.MustParseAddrPort(ln.Addr().String()).Port(), nil
}

// StartTransmission starts transmission-daemon in the foreground with its
// config in dir/config and downloads in dir/download, listening on ip, and
// waits until its RPC answers. The caller must Stop it.
func StartTransmission(ctx context.Context, dir string, ip netip.Addr) (*Transmission, error) {
	peerPort, err := freePort(ip)
	if err != nil {
		return nil, err
	}
	rpcPort, err := freePort(ip)
	if err != nil {
		return nil, err
	}
	cfgDir := filepath.Join(dir, "config")
	dl := filepath.Join(dir, "download")
	for _, d := range []string{cfgDir, dl} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	settings := map[string]any{
		"bind-address-ipv4":           ip.String(),
		"bind-address-ipv6":           "::1",
		"peer-port":                   peerPort,
		"peer-port-random-on-start":   false,
		"port-forwarding-enabled":     false,
		"dht-enabled":                 false,
		"lpd-enabled":                 false,
		"utp-enabled":                 false,
		"pex-enabled":                 true,
		"encryption":                  0, // prefer plain: peerfind does not encrypt (MSE)
		"rpc-enabled":                 true,
		"rpc-bind-address":            ip.String(),
		"rpc-port":                    rpcPort,
		"rpc-authentication-required": false,
		"rpc-whitelist-enabled":       false,
		"rpc-host-whitelist-enabled":  false,
		"download-dir":                dl,
		"incomplete-dir-enabled":      false,
		"watch-dir-enabled":           false,
		"start-added-torrents":        true,
		"message-level":               2,
		"blocklist-enabled":           false,
	}
	b, _ := json.MarshalIndent(settings, "", "  ")
	if err := os.WriteFile(filepath.Join(cfgDir, "settings.json"), b, 0o644); err != nil {
		return nil, err
	}
	t := &Transmission{
		Addr:   netip.AddrPortFrom(ip, peerPort),
		RPC:    fmt.Sprintf("http://%s/transmission/rpc", netip.AddrPortFrom(ip, rpcPort)),
		cmd:    exec.Command(TransmissionDaemon, "-f", "-g", cfgDir),
		waited: make(chan struct{}),
	}
	t.cmd.Stdout = (*lockedWriter)(t)
	t.cmd.Stderr = (*lockedWriter)(t)
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", TransmissionDaemon, err)
	}
	go func() { t.cmd.Wait(); close(t.waited) }()
	for {
		var r struct{}
		if err := t.call(ctx, "session-get", map[string]any{"fields": []string{"version"}}, &r); err == nil {
			return t, nil
		}
		select {
		case <-t.waited:
			return nil, fmt.Errorf("%s exited at start: %s", TransmissionDaemon, t.Log())
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s RPC did not answer: %w; log: %s", TransmissionDaemon, ctx.Err(), t.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type lockedWriter Transmission

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.out.Len() < 1<<20 {
		w.out.Write(b)
	}
	return len(b), nil
}

// Log returns what the daemon printed.
func (t *Transmission) Log() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.out.String()
}

// Stop ends the daemon (SIGTERM, then SIGKILL after 10 s) and waits.
func (t *Transmission) Stop() {
	t.cmd.Process.Signal(os.Interrupt)
	select {
	case <-t.waited:
	case <-time.After(10 * time.Second):
		t.cmd.Process.Kill()
		<-t.waited
	}
}

// call makes one RPC call, doing the session-id exchange (HTTP 409 gives
// the id to send) as often as the daemon asks.
func (t *Transmission) call(ctx context.Context, method string, args any, result any) error {
	body, _ := json.Marshal(map[string]any{"method": method, "arguments": args})
	for range 3 {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.RPC, bytes.NewReader(body))
		if err != nil {
			return err
		}
		t.mu.Lock()
		req.Header.Set("X-Transmission-Session-Id", t.sid)
		t.mu.Unlock()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusConflict {
			t.mu.Lock()
			t.sid = resp.Header.Get("X-Transmission-Session-Id")
			t.mu.Unlock()
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: HTTP %d: %s", method, resp.StatusCode, b)
		}
		var r struct {
			Result    string          `json:"result"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", method, err)
		}
		if r.Result != "success" {
			return fmt.Errorf("%s: %s", method, r.Result)
		}
		return json.Unmarshal(r.Arguments, result)
	}
	return errors.New(method + ": no session id accepted")
}

// AddTorrent adds the .torrent at path, its data in dir (the content is
// there for a seed, absent for a leecher).
func (t *Transmission) AddTorrent(ctx context.Context, path, dir string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var r map[string]any
	return t.call(ctx, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(data), "download-dir": dir, "paused": false}, &r)
}

// TorrentStatus is what torrent-get reports of one torrent.
type TorrentStatus struct {
	HashString  string  `json:"hashString"`
	PercentDone float64 `json:"percentDone"`
	Status      int     `json:"status"` // 6: seeding
	Error       int     `json:"error"`
	ErrorString string  `json:"errorString"`
	// PeersConnected counts the peer connections it holds.
	PeersConnected int `json:"peersConnected"`
}

// Torrents reports every torrent the daemon has.
func (t *Transmission) Torrents(ctx context.Context) ([]TorrentStatus, error) {
	var r struct {
		Torrents []TorrentStatus `json:"torrents"`
	}
	err := t.call(ctx, "torrent-get", map[string]any{"fields": []string{"hashString", "percentDone", "status", "error", "errorString", "peersConnected"}}, &r)
	return r.Torrents, err
}

// WaitNoPeers waits until the daemon holds no peer connection. It turns
// away a new connection from an IP it still counts as connected, and it
// notices a closed connection only on its next peer pulse
// (docs/interop.md): a test connecting again from 127.0.0.1 waits for this
// first.
func (t *Transmission) WaitNoPeers(ctx context.Context) error {
	for {
		ts, err := t.Torrents(ctx)
		if err != nil {
			return err
		}
		n := 0
		for _, s := range ts {
			n += s.PeersConnected
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("transmission still holds %d peer connections: %w", n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitSeeding waits until the daemon seeds the torrent of info hash ih
// (hex): its files checked and complete.
func (t *Transmission) WaitSeeding(ctx context.Context, ih string) error {
	for {
		ts, err := t.Torrents(ctx)
		if err != nil {
			return err
		}
		for _, s := range ts {
			if s.HashString == ih && s.Status == 6 && s.PercentDone == 1 {
				return nil
			}
			if s.Error != 0 {
				return fmt.Errorf("transmission: torrent %s: %s", s.HashString, s.ErrorString)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("transmission did not seed %s: %w (torrents %+v)", ih, ctx.Err(), ts)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// StartSeedingTB starts transmission-daemon on ip seeding the torrent at
// torrentPath, whose data lies in contentDir, and waits until it seeds
// infoHash (hex). It fails tb on any error; its cleanup stops the daemon
// and, when the test failed, logs the daemon's log.
func StartSeedingTB(ctx context.Context, tb testing.TB, ip netip.Addr, torrentPath, contentDir, infoHash string) *Transmission {
	tb.Helper()
	tr, err := StartTransmission(ctx, tb.TempDir(), ip)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		tr.Stop()
		if tb.Failed() {
			tb.Logf("transmission-daemon log:\n%s", tr.Log())
		}
	})
	if err := tr.AddTorrent(ctx, torrentPath, contentDir); err != nil {
		tb.Fatal(err)
	}
	if err := tr.WaitSeeding(ctx, infoHash); err != nil {
		tb.Fatal(err)
	}
	return tr
}
