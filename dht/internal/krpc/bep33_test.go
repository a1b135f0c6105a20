package krpc

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/peerfind/peerfind/dht/internal/bloom"
)

// filterOf returns the BEP 33 filter of addrs.
func filterOf(addrs ...string) bloom.Filter {
	var f bloom.Filter
	for _, a := range addrs {
		f.Add(netip.MustParseAddr(a))
	}
	return f
}

// bep33Response is a get_peers response carrying both BEP 33 filters, of
// the lengths given; "BFpe" < "BFsd" < "id" in bencode's byte order.
func bep33Response(pe, sd string) []byte {
	var b bytes.Buffer
	b.WriteString("d1:rd")
	if pe != "" {
		b.WriteString("4:BFpe" + strconv.Itoa(len(pe)) + ":" + pe)
	}
	if sd != "" {
		b.WriteString("4:BFsd" + strconv.Itoa(len(sd)) + ":" + sd)
	}
	b.WriteString("2:id20:" + idA + "5:token2:tke1:t2:aa1:y1:re")
	return b.Bytes()
}

// TestBEP33Keys checks the BEP 33 keys on the wire: scrape and noseed in a
// get_peers query, seed in announce_peer, and the two filters of a reply.
func TestBEP33Keys(t *testing.T) {
	seeds := filterOf("192.0.2.1", "192.0.2.2")
	peers := filterOf("2001:db8::1")
	tests := []struct {
		name string
		wire []byte
		msg  Msg
	}{
		{"get_peers with scrape and noseed",
			[]byte("d1:ad2:id20:" + idA + "9:info_hash20:" + idB + "6:noseedi1e6:scrapei1ee1:q9:get_peers1:t2:aa1:y1:qe"),
			Msg{T: "aa", Y: "q", Q: "get_peers", A: &Args{ID: idA, InfoHash: idB, Scrape: 1, NoSeed: 1}}},
		{"announce_peer of a seed",
			[]byte("d1:ad2:id20:" + idA + "9:info_hash20:" + idB + "4:porti6881e4:seedi1e5:token2:tke1:q13:announce_peer1:t2:aa1:y1:qe"),
			Msg{T: "aa", Y: "q", Q: "announce_peer", A: &Args{ID: idA, InfoHash: idB, Port: 6881, Token: "tk", Seed: 1}}},
		{"get_peers response with BFsd and BFpe",
			bep33Response(string(peers[:]), string(seeds[:])),
			Msg{T: "aa", Y: "r", R: &Return{ID: idA, Token: "tk", BFsd: string(seeds[:]), BFpe: string(peers[:])}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Append(nil, &tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.wire) {
				t.Errorf("encode:\n got %q\nwant %q", got, tt.wire)
			}
			m, err := Parse(tt.wire)
			if err != nil {
				t.Fatal(err)
			}
			if enc, _ := Append(nil, m); !bytes.Equal(enc, tt.wire) {
				t.Errorf("round trip:\n got %q\nwant %q", enc, tt.wire)
			}
		})
	}

	m, err := Parse(bep33Response(string(peers[:]), string(seeds[:])))
	if err != nil {
		t.Fatal(err)
	}
	r := DecodeReply(m)
	if r.BFsd == nil || *r.BFsd != seeds || r.BFpe == nil || *r.BFpe != peers {
		t.Fatalf("filters not decoded: %v %v", r.BFsd != nil, r.BFpe != nil)
	}
	m, _ = Parse([]byte("d1:rd2:id20:" + idA + "e1:t2:aa1:y1:re"))
	if r := DecodeReply(m); r.BFsd != nil || r.BFpe != nil {
		t.Fatal("filters decoded from a reply without them")
	}
}

// TestBadFilter checks that a filter of any length but 256 bytes makes the
// response a bad one, with an error that names the key and wraps
// ErrBadFilter.
func TestBadFilter(t *testing.T) {
	full := strings.Repeat("\xff", bloom.Size)
	tests := []struct {
		name, pe, sd, key string
	}{
		{"short BFsd", full, full[:255], "BFsd"},
		{"long BFpe", full + "x", full, "BFpe"},
		{"one byte BFpe alone", "x", "", "BFpe"},
		{"BFsd of 512 bytes", "", full + full, "BFsd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(bep33Response(tt.pe, tt.sd))
			var me *MsgError
			if !errors.Is(err, ErrBadFilter) || !errors.As(err, &me) || me.T != "aa" || !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("error %v, want a MsgError naming %s and wrapping ErrBadFilter", err, tt.key)
			}
		})
	}
}
