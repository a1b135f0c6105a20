package discovery

import (
	"slices"
	"testing"

	"github.com/peerfind/peerfind/magnet"
)

func TestTargetFromMagnet(t *testing.T) {
	m, err := magnet.Parse("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&tr=http%3A%2F%2F127.0.0.1%3A1%2Fannounce&tr=udp%3A%2F%2F127.0.0.1%3A2&x.pe=127.0.0.5:6000&x.pe=%5B::1%5D:7000&x.pe=peer.example:80")
	if err != nil {
		t.Fatal(err)
	}
	tg := TargetFromMagnet(m)
	if len(tg.InfoHashes) != 1 || tg.InfoHashes[0].String() != "0123456789abcdef0123456789abcdef01234567" {
		t.Errorf("hashes %v", tg.InfoHashes)
	}
	if len(tg.Trackers) != 2 || tg.Trackers[0][0] != "http://127.0.0.1:1/announce" || tg.Trackers[1][0] != "udp://127.0.0.1:2" {
		t.Errorf("trackers %v", tg.Trackers)
	}
	if want := peerList("127.0.0.5:6000", "[::1]:7000"); !slices.Equal(tg.Peers, want) {
		t.Errorf("peers %v, want %v", tg.Peers, want)
	}
}
