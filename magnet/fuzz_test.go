package magnet

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/peerfind/peerfind/metainfo"
)

// FuzzParseMagnet checks that Parse never panics and that every link it
// accepts formats to a link that parses back to the same value.
func FuzzParseMagnet(f *testing.F) {
	for _, s := range []string{
		sintelHex, sintelB32, v2Hex,
		"magnet:?xt=urn:btih:" + sintelHex + "&dn=Sintel&tr=udp%3A%2F%2Fexplodie.org%3A6969&ws=https%3A%2F%2Fwebtorrent.io%2Ftorrents%2F",
		"magnet:?xt=urn:btih:" + sintelB32 + "&dn=Big+Buck%20Bunny&xl=129241752&x.pe=127.0.0.1:6881&x.pe=[::1]:51413",
		"magnet:?xt=urn:btih:631a31dd0a46257d5078c0dee4e66e26f73e42ac&xt=urn:btmh:1220" + v2Hex + "&dn=bittorrent-v1-v2-hybrid-test",
		"magnet:?xt.1=urn:btih:" + sintelHex + "&tr.1=http%3A%2F%2Fa%2Fannounce&so=0,2-4&x.foo=bar&xt=urn:sha1:XYZ#frag",
	} {
		f.Add(s)
	}
	// Magnet links of the seed torrents of the metainfo package (all from
	// permissively licensed sources; see that directory's README).
	paths, _ := filepath.Glob(filepath.Join("..", "metainfo", "testdata", "seeds", "*.torrent"))
	for _, p := range paths {
		if m, err := metainfo.Load(p); err == nil {
			f.Add(FromMetaInfo(m).String())
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Parse(s)
		if err != nil {
			return
		}
		if len(m.SwarmHashes()) == 0 {
			t.Fatalf("accepted %q without a hash", s)
		}
		out := m.String()
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String %q fails: %v", s, out, err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip of %q through %q:\n got %+v\nwant %+v", s, out, again, m)
		}
	})
}
