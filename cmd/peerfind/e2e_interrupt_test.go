package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

// hangingTracker is an HTTP tracker that never answers an announce; asked
// receives a value for each request it holds.
func hangingTracker(t *testing.T) (url string, asked chan struct{}) {
	t.Helper()
	asked = make(chan struct{}, 16)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case asked <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}))
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	return hs.URL + "/announce", asked
}

// TestE2EInterruptedIsNotFailed: a search cut short by a signal or the
// timeout before any peer was found is reported as interrupted or timed out,
// not as failed, with the conventional exit status; one that found peers
// exits 0 however it ended.
func TestE2EInterruptedIsNotFailed(t *testing.T) {
	h := metainfo.Hash{0xab, 0x11}
	for _, tt := range []struct {
		sig  syscall.Signal
		code int
		name string
	}{{syscall.SIGINT, 130, "SIGINT"}, {syscall.SIGTERM, 143, "SIGTERM"}} {
		t.Run(tt.name, func(t *testing.T) {
			url, asked := hangingTracker(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, peerfindBin, "peers", h.String(), "--no-dht", "--tracker", url)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-asked:
			case <-ctx.Done():
				t.Fatal("the tracker was never asked")
			}
			cmd.Process.Signal(tt.sig)
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tt.code {
				t.Fatalf("exit %v, want status %d; stderr:\n%s", err, tt.code, errb.String())
			}
			for _, want := range []string{"0 peers in", "(interrupted)", "no answer yet (interrupted)", "before the search was interrupted by " + tt.name} {
				if !strings.Contains(errb.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, errb.String())
				}
			}
			if strings.Contains(errb.String(), "failed") {
				t.Errorf("stderr calls an interrupted search failed:\n%s", errb.String())
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		url, _ := hangingTracker(t)
		r := runPF(t, nil, "peers", h.String(), "--no-dht", "--tracker", url, "--timeout", "500ms")
		if r.code != exitNoPeers {
			t.Errorf("exit %d, want %d (nobody found); stderr:\n%s", r.code, exitNoPeers, r.stderr)
		}
		for _, want := range []string{"(timed out)", "no answer before the timeout", "no peers found (timed out after"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		r = runPF(t, nil, "peers", h.String(), "--no-dht", "--tracker", url, "--timeout", "500ms", "--json")
		if !strings.Contains(r.stdout, `"reason":"timeout"`) {
			t.Errorf("JSON summary lacks reason timeout:\n%s", r.stdout)
		}
	})
	t.Run("SIGINT after a peer", func(t *testing.T) {
		url, _ := hangingTracker(t)
		srv := &tracker.Server{}
		srv.AddPeer(h, netip.MustParseAddrPort("192.0.2.9:6881"), true)
		hs := httptest.NewServer(srv)
		defer hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd, stdout, errb := startPeerfind(ctx, t, nil, "peers", h.String(), "--no-dht", "--tracker", url, "--tracker", hs.URL+"/announce")
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() || sc.Text() != "192.0.2.9:6881" {
			t.Fatalf("first line %q; stderr:\n%s", sc.Text(), errb.String())
		}
		cmd.Process.Signal(os.Interrupt)
		for sc.Scan() {
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("exit %v after SIGINT with a peer found, want 0; stderr:\n%s", err, errb.String())
		}
		if !strings.Contains(errb.String(), "1 peer in") || !strings.Contains(errb.String(), "(interrupted)") {
			t.Errorf("summary:\n%s", errb.String())
		}
	})
}
