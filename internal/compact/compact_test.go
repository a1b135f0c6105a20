package compact

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPeers(t *testing.T) {
	tests := []struct {
		name  string
		hex   string
		entry int
		want  []string
	}{
		{"ipv4", "7f 00 00 01 1a e1  0a 00 00 02 00 50", PeerLen4, []string{"127.0.0.1:6881", "10.0.0.2:80"}},
		{"ipv6", "00000000000000000000000000000001 1ae1", PeerLen6, []string{"[::1]:6881"}},
		{"empty", "", PeerLen4, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := unhex(t, tt.hex)
			got, err := ParsePeers(b, tt.entry)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			var again []byte
			for i, ap := range got {
				if ap.String() != tt.want[i] {
					t.Errorf("peer %d = %v, want %s", i, ap, tt.want[i])
				}
				again = AppendPeer(again, ap)
			}
			if string(again) != string(b) {
				t.Errorf("round trip = %x, want %x", again, b)
			}
		})
	}
}

func TestPeersBadLength(t *testing.T) {
	_, err := ParsePeers(make([]byte, 13), PeerLen4)
	var le *LengthError
	if !errors.As(err, &le) || le.Len != 13 || le.Entry != 6 {
		t.Fatalf("err = %v, want LengthError{13,6}", err)
	}
	if _, err := ParsePeers(make([]byte, 12), 5); err == nil {
		t.Fatal("entry size 5 accepted")
	}
	if _, err := ParsePeer(make([]byte, 7)); err == nil {
		t.Fatal("7-byte peer accepted")
	}
}

func TestMappedIPv4IsSixBytes(t *testing.T) {
	ap := netip.MustParseAddrPort("[::ffff:1.2.3.4]:5")
	if got := AppendPeer(nil, ap); len(got) != 6 || PeerLen(ap) != 6 {
		t.Fatalf("mapped address encoded as %x", got)
	}
}

func TestNodes(t *testing.T) {
	id := strings.Repeat("ab", 20)
	b := unhex(t, id+"7f0000021ae1"+id+"7f0000031ae2")
	nodes, err := ParseNodes(b, NodeLen4)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[1].Addr.String() != "127.0.0.3:6882" || hex.EncodeToString(nodes[0].ID[:]) != id {
		t.Fatalf("nodes = %+v", nodes)
	}
	var again []byte
	for _, n := range nodes {
		again = AppendNode(again, n)
	}
	if string(again) != string(b) {
		t.Fatalf("round trip = %x", again)
	}
	if _, err := ParseNodes(b[:27], NodeLen4); err == nil {
		t.Fatal("27-byte node list accepted")
	}
	b6 := unhex(t, id+"00000000000000000000000000000001"+"0050")
	n6, err := ParseNodes(b6, NodeLen6)
	if err != nil || n6[0].Addr.String() != "[::1]:80" {
		t.Fatalf("nodes6 = %+v, %v", n6, err)
	}
}

func FuzzParsePeers(f *testing.F) {
	f.Add([]byte("\x7f\x00\x00\x01\x1a\xe1"), true)
	f.Add(make([]byte, 18), false)
	f.Fuzz(func(t *testing.T, b []byte, v4 bool) {
		entry := PeerLen6
		if v4 {
			entry = PeerLen4
		}
		peers, err := ParsePeers(b, entry)
		if err != nil {
			return
		}
		var again []byte
		for _, p := range peers {
			if v4 {
				again = AppendPeer(again, p)
			} else {
				a := p.Addr().As16()
				again = append(again, a[:]...)
				again = append(again, byte(p.Port()>>8), byte(p.Port()))
			}
		}
		if string(again) != string(b) {
			t.Fatalf("round trip %x != %x", again, b)
		}
	})
}
