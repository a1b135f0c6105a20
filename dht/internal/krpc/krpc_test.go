package krpc

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/peerfind/peerfind/dht/internal/nodeid"
	"github.com/peerfind/peerfind/internal/compact"
)

// unhex decodes spaced hex ("64 31 3a ..."); text in quotes ("d1:ad") is
// taken literally, so vectors stay readable.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var out []byte
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, `"`) && strings.HasSuffix(f, `"`) && len(f) >= 2 {
			out = append(out, f[1:len(f)-1]...)
			continue
		}
		b, err := hex.DecodeString(f)
		if err != nil {
			t.Fatalf("bad hex %q: %v", f, err)
		}
		out = append(out, b...)
	}
	return out
}

const (
	idA = "abcdefghij0123456789" // the ids of the BEP 5 examples
	idB = "mnopqrstuvwxyz123456"
)

var krpcVectors = []struct {
	name string
	wire string // spaced hex / quoted literal
	msg  Msg
}{
	{"ping query (BEP 5)", `"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"`,
		Msg{T: "aa", Y: "q", Q: "ping", A: &Args{ID: idA}}},
	{"ping response (BEP 5)", `"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re"`,
		Msg{T: "aa", Y: "r", R: &Return{ID: idB}}},
	{"error (BEP 5)", `"d1:eli201e23:A" 20 "Generic" 20 "Error" 20 "Ocurrede1:t2:aa1:y1:ee"`,
		Msg{T: "aa", Y: "e", E: &Error{Code: 201, Msg: "A Generic Error Ocurred"}}},
	{"find_node query with want (BEP 32)",
		`"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:wantl2:n42:n6ee1:q9:find_node1:t2:aa1:y1:qe"`,
		Msg{T: "aa", Y: "q", Q: "find_node", A: &Args{ID: idA, Target: idB, Want: []string{"n4", "n6"}}}},
	{"get_peers response with values, token and ip (BEP 42)",
		`"d2:ip6:" 7f 00 00 01 1a e1 "1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:" c0 a8 01 02 1a e1 "6:" 0a 00 00 01 00 50 "ee1:t2:aa1:y1:re"`,
		Msg{T: "aa", Y: "r", IP: "\x7f\x00\x00\x01\x1a\xe1", R: &Return{ID: idA, Token: "aoeusnth",
			Values: []string{"\xc0\xa8\x01\x02\x1a\xe1", "\x0a\x00\x00\x01\x00\x50"}}}},
	{"announce_peer query, implied_port, read-only (BEP 43)",
		`"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer2:roi1e1:t2:aa1:y1:qe"`,
		Msg{T: "aa", Y: "q", Q: "announce_peer", RO: 1, A: &Args{ID: idA, InfoHash: idB, Port: 6881, ImpliedPort: 1, Token: "aoeusnth"}}},
	{"find_node response with nodes6",
		`"d1:rd2:id20:abcdefghij01234567896:nodes638:mnopqrstuvwxyz123456" 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 1a e1 "e1:t1:" 00 "1:y1:re"`,
		Msg{T: "\x00", Y: "r", R: &Return{ID: idA, Nodes6: idB + string(make([]byte, 15)) + "\x01\x1a\xe1"}}},
}

func TestKRPCVectors(t *testing.T) {
	for _, v := range krpcVectors {
		t.Run(v.name, func(t *testing.T) {
			wire := unhex(t, v.wire)
			got, err := Append(nil, &v.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, wire) {
				t.Errorf("encode:\n got %q\nwant %q", got, wire)
			}
			m, err := Parse(wire)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !reflect.DeepEqual(*m, v.msg) {
				t.Errorf("parse:\n got %+v\nwant %+v", *m, v.msg)
			}
		})
	}
}

func TestParseMsgErrors(t *testing.T) {
	tests := []struct {
		name, wire string
		t          string // transaction id recovered for a 203 reply
	}{
		{"not bencode", `"hello"`, ""},
		{"truncated", `"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:q"`, "aa"},
		{"short id", `"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe"`, "aa"},
		{"query without args", `"d1:q4:ping1:t2:aa1:y1:qe"`, "aa"},
		{"query without method", `"d1:ad2:id20:abcdefghij0123456789e1:t2:aa1:y1:qe"`, "aa"},
		{"response without r", `"d1:t2:aa1:y1:re"`, "aa"},
		{"unknown kind", `"d1:t2:aa1:y1:xe"`, "aa"},
		{"id is an integer", `"d1:ad2:idi5ee1:q4:ping1:t2:aa1:y1:qe"`, "aa"},
		{"duplicate key", `"d1:t2:aa1:t2:bb1:y1:qe"`, "aa"},
		{"trailing bytes", `"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:reXX"`, "aa"},
		{"deep nesting", `"d1:t2:aa1:y1:q1:a` + strings.Repeat("l", 50) + strings.Repeat("e", 50) + `e"`, "aa"},
		{"huge string length", `"d1:t2:aa1:y1:q1:a99999999999:xe"`, "aa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(unhex(t, tt.wire))
			var me *MsgError
			if !errors.As(err, &me) {
				t.Fatalf("error %v (%T), want *MsgError", err, err)
			}
			if me.T != tt.t {
				t.Errorf("recovered t %q, want %q", me.T, tt.t)
			}
		})
	}
}

func TestDecodeReply(t *testing.T) {
	nodes := compact.AppendNode(nil, compact.Node{ID: [20]byte{1}, Addr: netip.MustParseAddrPort("10.0.0.1:1")})
	m := &Msg{Y: "r", R: &Return{ID: idA, Nodes: string(nodes) + "xx", Token: "tok",
		Values: []string{"\x01\x02\x03\x04", "\x0a\x00\x00\x01\x00\x50", "\x0a\x00\x00\x02\x00\x00"}},
		IP: "\x01\x02\x03\x04\x00\x05"}
	r := DecodeReply(m)
	// The misaligned nodes list is dropped whole; the 4-byte value (as
	// anacrolix's default store sends) and the port-0 value are skipped.
	if len(r.Nodes) != 0 || len(r.Peers) != 1 || r.Peers[0] != netip.MustParseAddrPort("10.0.0.1:80") || r.BadLen != 3 {
		t.Fatalf("reply %+v", r)
	}
	if r.IP != netip.MustParseAddrPort("1.2.3.4:5") || r.Token != "tok" || r.ID != nodeid.ID([]byte(idA)) {
		t.Fatalf("reply %+v", r)
	}
}

// FuzzKRPC checks that no datagram makes the decoder panic, and that every
// message it accepts survives an encode/decode round trip unchanged.
func FuzzKRPC(f *testing.F) {
	for _, v := range krpcVectors {
		f.Add(unhex(f, v.wire))
	}
	// BEP 33 replies: well-formed filters and a short one.
	f.Add(bep33Response(strings.Repeat("\x0f", 256), strings.Repeat("\xf0", 256)))
	f.Add(bep33Response("x", strings.Repeat("\xf0", 256)))
	seeds, _ := filepath.Glob("testdata/krpc/*.bin")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		if m.R != nil && m.Y == KindResponse {
			DecodeReply(m)
		}
		enc, err := Append(nil, m)
		if err != nil {
			t.Fatalf("re-encode of accepted message: %v", err)
		}
		m2, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-encoded message %q does not parse: %v", enc, err)
		}
		// Compare encodings: an empty list decodes to an empty slice that
		// omitempty then leaves out, which is the same message.
		enc2, err := Append(nil, m2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed the message:\n%q\n%q (%v)", enc, enc2, err)
		}
	})
}

// TestParseCaptured decodes packets captured from libtorrent 2.0.8 on
// loopback (testdata/krpc/capture.py). They carry keys we do not use ("bs",
// "p"), 4-byte tokens, and errors that also have an "r" dict, all of which
// must be accepted.
func TestParseCaptured(t *testing.T) {
	tests := []struct {
		file  string
		y, q  string
		check func(t *testing.T, m *Msg)
	}{
		{"lt-q-get_peers.bin", "q", "get_peers", func(t *testing.T, m *Msg) {
			if len(m.A.InfoHash) != 20 || m.V != "LT\x02\x08" {
				t.Fatalf("args %+v v %q", m.A, m.V)
			}
		}},
		{"lt-r-ping.bin", "r", "", func(t *testing.T, m *Msg) {
			if r := DecodeReply(m); r.IP.Addr() != netip.MustParseAddr("127.0.0.1") || r.IP.Port() == 0 {
				t.Fatalf("ip %v", r.IP)
			}
		}},
		{"lt-r-find_node.bin", "r", "", nil},
		{"lt-r-find_node-want.bin", "r", "", nil},
		{"lt-r-get_peers.bin", "r", "", func(t *testing.T, m *Msg) {
			if len(m.R.Token) != 4 || len(m.R.Values) != 0 {
				t.Fatalf("token %q values %q", m.R.Token, m.R.Values)
			}
		}},
		{"lt-r-announce_peer.bin", "r", "", nil},
		{"lt-r-get_peers-values.bin", "r", "", func(t *testing.T, m *Msg) {
			r := DecodeReply(m)
			if len(r.Peers) != 1 || r.Peers[0] != netip.MustParseAddrPort("127.0.0.1:6881") || r.BadLen != 0 {
				t.Fatalf("peers %v (bad %d)", r.Peers, r.BadLen)
			}
		}},
		{"lt-e-bad-token.bin", "e", "", func(t *testing.T, m *Msg) {
			if m.E.Code != ErrCodeProtocol || m.E.Msg != "invalid token" {
				t.Fatalf("error %+v", m.E)
			}
		}},
		{"lt-e-unknown.bin", "e", "", func(t *testing.T, m *Msg) {
			// libtorrent answers an unknown method with 203, not 204.
			if m.E.Code != ErrCodeProtocol {
				t.Fatalf("error %+v", m.E)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "krpc", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if m.Y != tt.y || m.Q != tt.q || m.T == "" {
				t.Fatalf("y %q q %q t %q", m.Y, m.Q, m.T)
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

func BenchmarkParseMsg(b *testing.B) {
	data, err := os.ReadFile("testdata/krpc/lt-r-get_peers-values.bin")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		m, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		DecodeReply(m)
	}
}

func BenchmarkAppendMsg(b *testing.B) {
	m := &Msg{T: "aa", Y: "q", Q: "get_peers", A: &Args{ID: idA, InfoHash: idB, Want: []string{"n4"}}, V: "PF\x00\x01"}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = Append(buf[:0], m); err != nil {
			b.Fatal(err)
		}
	}
}
