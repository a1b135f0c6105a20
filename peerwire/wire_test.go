package peerwire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHandshakeBytes(t *testing.T) {
	h := handshake{InfoHash: testHash, PeerID: testPeerID}
	h.Reserved[reservedExtension] = bitExtension
	h.Reserved[reservedFlags] = bitFast | bitDHT
	want := unhex(t, "13 426974546f7272656e742070726f746f636f6c"+ // 19, "BitTorrent protocol"
		"0000000000100005"+ // reserved: BEP 10, BEP 6 and BEP 5 bits
		"0102030405060708090a0b0c0d0e0f1011121314"+
		"2d4c54323038302d6162636465666768696a6b6c") // "-LT2080-abcdefghijkl"
	got := appendHandshake(nil, h)
	if !bytes.Equal(got, want) {
		t.Fatalf("appendHandshake:\n got %x\nwant %x", got, want)
	}
	back, err := parseHandshake(got)
	if err != nil || back != h {
		t.Fatalf("parseHandshake: %+v, %v", back, err)
	}
	if _, err := parseHandshake([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); !errors.Is(err, ErrNotBitTorrent) {
		t.Errorf("an HTTP request: %v, want ErrNotBitTorrent", err)
	}
}

func TestReadMessage(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want message
		err  error
	}{
		{"keep-alive", "00000000", message{KeepAlive: true}, nil},
		{"have_all", "00000001 0e", message{ID: msgHaveAll, Payload: []byte{}}, nil},
		{"have", "00000005 04 0000002a", message{ID: msgHave, Payload: []byte{0, 0, 0, 42}}, nil},
		{"over the limit", "00100000 05", message{}, ErrTooLarge},
		{"cut short", "00000005 04 00", message{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := readMessage(bytes.NewReader(unhex(t, tt.in)), 1024)
			if tt.name == "cut short" {
				if err == nil {
					t.Fatal("no error for a truncated message")
				}
				return
			}
			if !errors.Is(err, tt.err) || m.KeepAlive != tt.want.KeepAlive || m.ID != tt.want.ID || !bytes.Equal(m.Payload, tt.want.Payload) {
				t.Fatalf("got %+v, %v; want %+v, %v", m, err, tt.want, tt.err)
			}
		})
	}
}

func TestBitfieldCount(t *testing.T) {
	tests := []struct {
		bits      string
		numPieces int
		have      int
		all       bool
		bad       bool
	}{
		{"ffff c0", 18, 18, true, false},
		{"ffff 80", 18, 17, false, false},
		{"ffff c1", 18, 0, false, true}, // a spare bit set
		{"ffff", 18, 0, false, true},    // too short
		{"ffff c0", 0, 18, true, false}, // unknown count: a full run is a seed
		{"ffff a0", 0, 18, false, false},
		{"0000 00", 0, 0, false, false},
		{"", 0, 0, false, false},
	}
	for _, tt := range tests {
		have, all, err := bitfieldCount(unhex(t, tt.bits), tt.numPieces)
		if (err != nil) != tt.bad || have != tt.have || all != tt.all {
			t.Errorf("bitfieldCount(%s, %d) = %d, %v, %v; want %d, %v, bad %v", tt.bits, tt.numPieces, have, all, err, tt.have, tt.all, tt.bad)
		}
	}
}

func TestExtHandshake(t *testing.T) {
	// An extension handshake in the shape libtorrent 2.0.8 sends (a
	// seed's: upload_only, metadata_size; its m ids).
	in := "d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei1342e4:reqqi500e11:upload_onlyi1e1:v18:libtorrent/2.0.8.06:yourip4:\x7f\x00\x00\x01e"
	e, err := parseExtHandshake([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if e.V != "libtorrent/2.0.8.0" || e.MetadataSize != 1342 || e.Reqq != 500 || !e.UploadOnly || e.M["ut_pex"] != 1 ||
		e.M["ut_metadata"] != 2 || e.YourIP != netip.MustParseAddr("127.0.0.1") || len(e.M) != 6 {
		t.Errorf("%+v", e)
	}
	// Fields of the wrong type are ignored, not fatal.
	e, err = parseExtHandshake([]byte("d1:md6:ut_pexi999e11:ut_metadata1:xe1:pi99999e1:vi3ee"))
	if err != nil || len(e.M) != 0 || e.P != 0 || e.V != "" {
		t.Errorf("%+v, %v", e, err)
	}
	// A client name with control characters is made printable.
	e, _ = parseExtHandshake([]byte("d1:v6:a\x1b[2Jbe"))
	if e.V != "a?[2Jb" {
		t.Errorf("v = %q", e.V)
	}
}

func TestPEXRoundTrip(t *testing.T) {
	p := &PEX{Added: []PEXPeer{{netip.MustParseAddrPort("10.0.0.1:6881"), PEXSeed}, {netip.MustParseAddrPort("[2001:db8::1]:51413"), PEXUTP | PEXReachable}},
		Dropped: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:6882"), netip.MustParseAddrPort("[2001:db8::2]:6883")}}
	b := appendPEX(nil, p)
	want := "d5:added6:\x0a\x00\x00\x01\x1a\xe17:added.f1:\x026:added618:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\xc8\xd58:added6.f1:\x147:dropped6:\x0a\x00\x00\x02\x1a\xe28:dropped618:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x1a\xe3e"
	if string(b) != want {
		t.Fatalf("appendPEX:\n got %q\nwant %q", b, want)
	}
	back, err := parsePEX(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Added) != 2 || back.Added[0] != p.Added[0] || back.Added[1] != p.Added[1] || len(back.Dropped) != 2 {
		t.Fatalf("parsePEX: %+v", back)
	}
	if _, err := parsePEX([]byte("d5:added5:12345e")); !errors.Is(err, ErrProtocol) {
		t.Errorf("a misaligned added list: %v, want ErrProtocol", err)
	}
	// Flags shorter than the list leave the rest without flags.
	back, err = parsePEX([]byte("d5:added12:\x0a\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x1a\xe17:added.f1:\x02e"))
	if err != nil || len(back.Added) != 2 || back.Added[0].Flags != PEXSeed || back.Added[1].Flags != 0 {
		t.Errorf("%+v, %v", back, err)
	}
}

func TestMetadataMsg(t *testing.T) {
	tests := []struct {
		in   string
		want metadataMsg
		bad  bool
	}{
		{"d8:msg_typei0e5:piecei0ee", metadataMsg{Type: metaRequest}, false},
		{"d8:msg_typei1e5:piecei2e10:total_sizei34000eexyz", metadataMsg{Type: metaData, Piece: 2, TotalSize: 34000, Data: []byte("xyz")}, false},
		{"d8:msg_typei2e5:piecei1ee", metadataMsg{Type: metaReject, Piece: 1}, false},
		{"d8:msg_typei0ee", metadataMsg{}, true},
		{"d8:msg_typei0e5:piecei-1ee", metadataMsg{}, true},
		{"d8:msg_typei2e5:piecei1eextra", metadataMsg{}, true},
		{"d8:msg_typei1e5:piecei0e10:total_size", metadataMsg{}, true},
	}
	for _, tt := range tests {
		m, err := parseMetadataMsg([]byte(tt.in))
		if (err != nil) != tt.bad || m.Type != tt.want.Type || m.Piece != tt.want.Piece || m.TotalSize != tt.want.TotalSize || !bytes.Equal(m.Data, tt.want.Data) {
			t.Errorf("parseMetadataMsg(%q) = %+v, %v", tt.in, m, err)
		}
	}
	req := appendMetadataMsg(nil, metadataMsg{Type: metaRequest, Piece: 3})
	if string(req) != "d8:msg_typei0e5:piecei3ee" {
		t.Errorf("request %q", req)
	}
}

func TestClient(t *testing.T) {
	tests := []struct{ id, want string }{
		{"-LT2080-abcdefghijkl", "libtorrent 2.0.8"},
		{"-LT12H0-abcdefghijkl", "libtorrent 1.2.17"},
		{"-TR3000-abcdefghijkl", "Transmission 3.00"},
		{"-TR2940-abcdefghijkl", "Transmission 2.94"},
		{"-TR4050-abcdefghijkl", "Transmission 4.0.5"},
		{"-qB4620-abcdefghijkl", "qBittorrent 4.6.2"},
		{"-UT355W-abcdefghijkl", "µTorrent 3.5.5"},
		{"-DE13D0-abcdefghijkl", "Deluge 1.3.13"},
		{"-GT0003-abcdefghijkl", "anacrolix/torrent 0.0.0.3"},
		{"-PF0001-abcdefghijkl", "peerfind 0.0.0.1"},
		{"-ZZ1000-abcdefghijkl", "unknown client ZZ 1.0"},
		{"A2-1-36-0-abcdefghij", "aria2 1.36.0"},
		{"M7-4-3--abcdefghijkl", "BitTorrent (Mainline) 7.4.3"},
		{"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", ""},
		{"-\x01\x02\x03\x04\x05\x06-abcdefghijkl", ""},
	}
	for _, tt := range tests {
		if got := Client([20]byte([]byte(tt.id))); got != tt.want {
			t.Errorf("Client(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
}
