package testutil

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestEscapeBytes(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"abc-._~XYZ09", "abc-._~XYZ09"},
		{" ", "%20"}, // never '+': opentracker reads that as 0x2b
		{"+", "%2B"},
		{"\x00\xff/?&=", "%00%FF%2F%3F%26%3D"},
	} {
		if got := EscapeBytes([]byte(tt.in)); got != tt.want {
			t.Errorf("EscapeBytes(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLockedBufferBounded(t *testing.T) {
	var b LockedBuffer
	chunk := strings.Repeat("x", 1<<10)
	for range 100 {
		if n, err := b.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if n := len(b.String()); n != 64<<10 {
		t.Errorf("kept %d bytes of 100 KiB, want 64 KiB", n)
	}
}

// TestOpentracker starts the real opentracker: it must serve the
// whitelisted hash over HTTP and answer a BEP 15 connect, refuse another
// hash, and report ErrExited when its UDP port is taken.
func TestOpentracker(t *testing.T) {
	bin, err := OpentrackerPath()
	if err != nil {
		t.Fatal(err)
	}
	const wl = "0123456789abcdef0123456789abcdef01234567"
	tcp, udp, err := FreePorts()
	if err != nil {
		t.Fatal(err)
	}
	ot, err := StartOpentracker(bin, t.TempDir(), tcp, udp, wl)
	if err != nil {
		t.Fatal(err)
	}
	defer ot.Stop()
	if want := fmt.Sprintf("udp://127.0.0.1:%d/announce", udp); ot.UDP != want {
		t.Errorf("UDP = %q, want %q", ot.UDP, want)
	}
	if _, err := UDPConnect(fmt.Sprintf("127.0.0.1:%d", udp)); err != nil {
		t.Errorf("connect to the started tracker: %v", err)
	}
	get := func(hash string) string {
		raw, err := hex.DecodeString(hash)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(ot.HTTP + "?info_hash=" + EscapeBytes(raw) + "&peer_id=-PF0001-testutiltest&port=7&uploaded=0&downloaded=0&left=0&compact=1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 1024)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return b.String()
	}
	if body := get(wl); strings.Contains(body, "failure reason") {
		t.Errorf("whitelisted hash refused: %q", body)
	}
	if body := get(strings.Repeat("ee", 20)); !strings.Contains(body, "failure reason") {
		t.Errorf("hash outside the whitelist accepted: %q", body)
	}

	// A UDP port we hold: opentracker cannot bind it and exits at once.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tcp2, _, err := FreePorts()
	if err != nil {
		t.Fatal(err)
	}
	ot2, err := StartOpentracker(bin, t.TempDir(), tcp2, pc.LocalAddr().(*net.UDPAddr).Port, wl)
	if err == nil {
		ot2.Stop()
		t.Fatal("opentracker started on a UDP port that is in use")
	}
	if !errors.Is(err, ErrExited) {
		t.Errorf("error %v, want one wrapping ErrExited", err)
	}
}
