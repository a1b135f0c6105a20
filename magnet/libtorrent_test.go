package magnet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// TestLibtorrentParsesOurLinks hands the links String formats to libtorrent
// 2.0's parse_magnet_uri (Debian python3-libtorrent) and checks it reads the
// same hashes, name, trackers, peers and web seeds.
func TestLibtorrentParsesOurLinks(t *testing.T) {
	const python = "/usr/bin/python3" // Debian's: the only one with the libtorrent bindings
	if err := exec.Command(python, "-c", "import libtorrent").Run(); err != nil {
		t.Fatalf("python3-libtorrent not available (%v) (scripts/test.sh installs it)", err)
	}
	links := []*Magnet{
		{InfoHashes: []metainfo.Hash{mustHash(t, sintelHex)}},
		{InfoHashesV2: []metainfo.HashV2{mustHashV2(t, v2Hex)}, Name: "v2 only"},
		{
			InfoHashes:   []metainfo.Hash{mustHash(t, "631a31dd0a46257d5078c0dee4e66e26f73e42ac")},
			InfoHashesV2: []metainfo.HashV2{mustHashV2(t, v2Hex)},
			Name:         "Sintel & friends / 100% ünïcode + spaces",
			Trackers:     []string{"udp://127.0.0.1:6969/announce", "http://[::1]:8080/announce?passkey=a&b=c"},
			Peers:        []string{"127.0.0.1:6881", "[::1]:51413"},
			WebSeeds:     []string{"http://127.0.0.1:8000/files/x y"},
			Length:       129241752,
			Extra:        url.Values{"so": {"0,2"}},
		},
	}
	var in strings.Builder
	for _, m := range links {
		in.WriteString(m.String() + "\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "../metainfo/testdata/interop/lt_helper.py", "magnets")
	cmd.Stdin = strings.NewReader(in.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("libtorrent: %v\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	i := 0
	for ; sc.Scan(); i++ {
		var lt struct {
			V1, V2, Name    string
			Trackers, Peers []string
			WebSeeds        []string `json:"web_seeds"`
		}
		if err := json.Unmarshal(sc.Bytes(), &lt); err != nil {
			t.Fatal(err)
		}
		m := links[i]
		var v1, v2 string
		if len(m.InfoHashes) > 0 {
			v1 = m.InfoHashes[0].String()
		}
		if len(m.InfoHashesV2) > 0 {
			v2 = m.InfoHashesV2[0].String()
		}
		if lt.V1 != v1 || lt.V2 != v2 || lt.Name != m.Name {
			t.Errorf("%s: libtorrent reads %q %q %q", m, lt.V1, lt.V2, lt.Name)
		}
		if !slices.Equal(lt.Trackers, m.Trackers) || !slices.Equal(lt.Peers, m.Peers) || !slices.Equal(lt.WebSeeds, m.WebSeeds) {
			t.Errorf("%s: libtorrent reads trackers %q peers %q web seeds %q", m, lt.Trackers, lt.Peers, lt.WebSeeds)
		}
	}
	if i != len(links) {
		t.Errorf("libtorrent answered %d of %d links", i, len(links))
	}
}
