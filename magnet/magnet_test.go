package magnet

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/peerfind/peerfind/metainfo"
)

func mustHash(t *testing.T, s string) metainfo.Hash {
	t.Helper()
	h, err := metainfo.ParseHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mustHashV2(t *testing.T, s string) metainfo.HashV2 {
	t.Helper()
	h, err := metainfo.ParseHashV2(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

const (
	sintelHex = "08ada5a7a6183aae1e09d831df6748d566095a10"
	// The same hash in base32, as older clients write it.
	sintelB32 = "BCW2LJ5GDA5K4HQJ3AY56Z2I2VTASWQQ"
	v2Hex     = "caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e"
)

func TestParse(t *testing.T) {
	sintel := mustHash(t, sintelHex)
	v2 := mustHashV2(t, v2Hex)
	tests := []struct {
		name string
		in   string
		want *Magnet
	}{
		{"bare hex", sintelHex, &Magnet{InfoHashes: []metainfo.Hash{sintel}}},
		{"bare hex upper", strings.ToUpper(sintelHex), &Magnet{InfoHashes: []metainfo.Hash{sintel}}},
		{"bare base32", sintelB32, &Magnet{InfoHashes: []metainfo.Hash{sintel}}},
		{"bare base32 lower", strings.ToLower(sintelB32), &Magnet{InfoHashes: []metainfo.Hash{sintel}}},
		{"bare v2", v2Hex, &Magnet{InfoHashesV2: []metainfo.HashV2{v2}}},
		{"surrounding space", "  " + sintelHex + "\n", &Magnet{InfoHashes: []metainfo.Hash{sintel}}},
		{
			"webtorrent sintel",
			"magnet:?xt=urn:btih:" + sintelHex + "&dn=Sintel&tr=udp%3A%2F%2Fexplodie.org%3A6969&tr=wss%3A%2F%2Ftracker.btorrent.xyz&ws=https%3A%2F%2Fwebtorrent.io%2Ftorrents%2F",
			&Magnet{InfoHashes: []metainfo.Hash{sintel}, Name: "Sintel",
				Trackers: []string{"udp://explodie.org:6969", "wss://tracker.btorrent.xyz"},
				WebSeeds: []string{"https://webtorrent.io/torrents/"}},
		},
		{
			"base32 xt, plus as space, xl, x.pe",
			"magnet:?xt=urn:btih:" + sintelB32 + "&dn=Big+Buck%20Bunny&xl=129241752&x.pe=127.0.0.1:6881&x.pe=[::1]:51413",
			&Magnet{InfoHashes: []metainfo.Hash{sintel}, Name: "Big Buck Bunny", Length: 129241752,
				Peers: []string{"127.0.0.1:6881", "[::1]:51413"}},
		},
		{
			"hybrid: btih and btmh",
			"magnet:?xt=urn:btih:631a31dd0a46257d5078c0dee4e66e26f73e42ac&xt=urn:btmh:1220" + v2Hex + "&dn=bittorrent-v1-v2-hybrid-test",
			&Magnet{InfoHashes: []metainfo.Hash{mustHash(t, "631a31dd0a46257d5078c0dee4e66e26f73e42ac")},
				InfoHashesV2: []metainfo.HashV2{v2}, Name: "bittorrent-v1-v2-hybrid-test"},
		},
		{
			"v2 only, upper-case URN",
			"MAGNET:?xt=URN:BTMH:1220" + strings.ToUpper(v2Hex),
			&Magnet{InfoHashesV2: []metainfo.HashV2{v2}},
		},
		{
			"numbered keys, duplicates dropped, unknown kept",
			"magnet:?xt.1=urn:btih:" + sintelHex + "&xt.2=urn:btih:" + sintelHex + "&tr.1=http%3A%2F%2Fa%2Fannounce&tr.2=http%3A%2F%2Fa%2Fannounce&so=0,2-4&x.foo=bar&xt=urn:sha1:XYZ",
			&Magnet{InfoHashes: []metainfo.Hash{sintel}, Trackers: []string{"http://a/announce"},
				Extra: url.Values{"so": {"0,2-4"}, "x.foo": {"bar"}, "xt": {"urn:sha1:XYZ"}}},
		},
		{
			"empty parameters and fragment ignored",
			"magnet:?&xt=urn:btih:" + sintelHex + "&&tr=#frag",
			&Magnet{InfoHashes: []metainfo.Hash{sintel}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
			// Round trip: formatting and parsing again gives the same link.
			again, err := Parse(got.String())
			if err != nil {
				t.Fatalf("Parse(String()) of %q: %v", got.String(), err)
			}
			if !reflect.DeepEqual(again, got) {
				t.Errorf("round trip through %q\n got %+v\nwant %+v", got.String(), again, got)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in       string
		sentinel error  // nil: any *Error
		param    string // for *Error
	}{
		{"", ErrNotMagnet, ""},
		{"hello", ErrNotMagnet, ""},
		{"http://example.com/x.torrent", ErrNotMagnet, ""},
		{sintelHex[:39], ErrNotMagnet, ""},
		{"magnet:?dn=nothing", ErrNoHash, ""},
		{"magnet:", ErrNoHash, ""},
		{"magnet:?xt=urn:sha1:ABC", ErrNoHash, ""},
		{"magnet:?xt=urn:btih:123", metainfo.ErrBadHash, "xt"},
		{"magnet:?xt=urn:btih:" + strings.Repeat("g", 40), metainfo.ErrBadHash, "xt"},
		{"magnet:?xt=urn:btmh:1120" + v2Hex, metainfo.ErrBadHash, "xt"},
		{"magnet:?xt=urn:btmh:1220" + v2Hex[:62], metainfo.ErrBadHash, "xt"},
		{"magnet:?xt=urn:btih:%zz", nil, "xt"},
	}
	for _, tt := range tests {
		m, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want error", tt.in, m)
			continue
		}
		if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
			t.Errorf("Parse(%q) = %v, want %v", tt.in, err, tt.sentinel)
		}
		var me *Error
		if tt.param != "" && (!errors.As(err, &me) || me.Param != tt.param) {
			t.Errorf("Parse(%q) = %v, want *Error for %s", tt.in, err, tt.param)
		}
	}
}

// TestParseLenient: a malformed optional parameter does not reject a link
// whose hash is good; it is ignored (or read as given) with a warning.
func TestParseLenient(t *testing.T) {
	base := "magnet:?xt=urn:btih:" + sintelHex
	tests := []struct {
		in, warning string
		check       func(*Magnet) bool
	}{
		{base + "&x.pe=127.0.0.1&x.pe=127.0.0.1:7", `x.pe "127.0.0.1": peer address is not host:port, ignored`, func(m *Magnet) bool { return len(m.Peers) == 1 }},
		{base + "&x.pe=127.0.0.1:0", `x.pe "127.0.0.1:0": bad port, ignored`, func(m *Magnet) bool { return len(m.Peers) == 0 }},
		{base + "&x.pe=127.0.0.1:70000", `x.pe "127.0.0.1:70000": bad port`, func(m *Magnet) bool { return len(m.Peers) == 0 }},
		{base + "&xl=-1", `xl "-1": exact length is not a non-negative integer, ignored`, func(m *Magnet) bool { return m.Length == 0 }},
		{base + "&xl=lots", `xl "lots"`, func(m *Magnet) bool { return m.Length == 0 }},
		{base + "&dn=100%25+sure%zz", `dn "100%25+sure%zz": bad percent-encoding, read as given`, func(m *Magnet) bool { return m.Name == "100%25+sure%zz" }},
		{base + "&ws=files/x.iso&ws=https://w.example/x", `ws "files/x.iso": not an absolute http(s) or ftp URL, ignored`, func(m *Magnet) bool { return len(m.WebSeeds) == 1 }},
	}
	for _, tt := range tests {
		m, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v, want a link with a warning", tt.in, err)
			continue
		}
		if len(m.InfoHashes) != 1 || m.InfoHashes[0].String() != sintelHex {
			t.Errorf("Parse(%q): hashes %v", tt.in, m.InfoHashes)
		}
		if len(m.Warnings) != 1 || !strings.HasPrefix(m.Warnings[0], tt.warning) {
			t.Errorf("Parse(%q): warnings %q, want one starting %q", tt.in, m.Warnings, tt.warning)
		}
		if !tt.check(m) {
			t.Errorf("Parse(%q) = %+v", tt.in, m)
		}
	}
}

func TestString(t *testing.T) {
	m := &Magnet{
		InfoHashes:   []metainfo.Hash{mustHash(t, sintelHex)},
		InfoHashesV2: []metainfo.HashV2{mustHashV2(t, v2Hex)},
		Name:         "Sintel & friends/1",
		Trackers:     []string{"udp://t.example:6969/announce?a=b&c"},
		WebSeeds:     []string{"https://ws.example/x y"},
		Peers:        []string{"[::1]:6881"},
		Length:       42,
		Extra:        url.Values{"so": {"1"}},
	}
	want := "magnet:?xt=urn:btih:" + sintelHex + "&xt=urn:btmh:1220" + v2Hex +
		"&dn=Sintel%20%26%20friends%2F1&xl=42&tr=udp:%2F%2Ft.example:6969%2Fannounce%3Fa%3Db%26c" +
		"&ws=https:%2F%2Fws.example%2Fx%20y&x.pe=[::1]:6881&so=1"
	if got := m.String(); got != want {
		t.Errorf("String()\n got %s\nwant %s", got, want)
	}
	back, err := Parse(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("round trip\n got %+v\nwant %+v", back, m)
	}
}

func TestSwarmHashes(t *testing.T) {
	v1 := mustHash(t, sintelHex)
	v2 := mustHashV2(t, v2Hex)
	m := &Magnet{InfoHashes: []metainfo.Hash{v1}, InfoHashesV2: []metainfo.HashV2{v2, v2}}
	got := m.SwarmHashes()
	want := []metainfo.Hash{v1, v2.Truncate()}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SwarmHashes = %v, want %v", got, want)
	}
}

func TestFromMetaInfo(t *testing.T) {
	// libtorrent's v2.torrent: a hybrid torrent with one tracker.
	mi, err := metainfo.Load("../metainfo/testdata/seeds/libtorrent_v2.torrent")
	if err != nil {
		t.Fatal(err)
	}
	m := FromMetaInfo(mi)
	want := &Magnet{
		InfoHashes:   []metainfo.Hash{mustHash(t, "c14199bbec64d0e9e439aa3b6b7639e666b86eca")},
		InfoHashesV2: []metainfo.HashV2{mustHashV2(t, "597b180c1a170a585dfc5e85d834d69013ceda174b8f357d5bb1a0ca509faf0a")},
		Name:         "test64K",
		Trackers:     []string{"http://example.com/announce"},
		Length:       65536,
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("FromMetaInfo = %+v\nwant %+v", m, want)
	}
	const link = "magnet:?xt=urn:btih:c14199bbec64d0e9e439aa3b6b7639e666b86eca" +
		"&xt=urn:btmh:1220597b180c1a170a585dfc5e85d834d69013ceda174b8f357d5bb1a0ca509faf0a" +
		"&dn=test64K&xl=65536&tr=http:%2F%2Fexample.com%2Fannounce"
	if got := m.String(); got != link {
		t.Errorf("String\n got %s\nwant %s", got, link)
	}
	if got, want := m.SwarmHashes(), mi.SwarmHashes(); !reflect.DeepEqual(got, want) {
		t.Errorf("SwarmHashes %v, torrent's %v", got, want)
	}
}
