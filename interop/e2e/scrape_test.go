package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/peerfind/peerfind/metainfo"
)

// testScrape runs peerfind scrape --json on libtorrent's torrent plus the
// UDP tracker: opentracker's counts over HTTP (BEP 48) and UDP (BEP 15)
// must agree with each other and with the peers its announce replies list,
// for every swarm of the torrent.
func testScrape(t *testing.T, s *swarm) {
	held, err := s.truth(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := runPeerfind(t, "scrape", s.tor.Path, "--json", "--no-dht", "--tracker", s.ot.UDP, "--timeout", "10s")
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	type line struct {
		Type      string        `json:"type"`
		URL       string        `json:"url"`
		Swarm     metainfo.Hash `json:"swarm"`
		Seeders   *int          `json:"seeders"`
		Leechers  *int          `json:"leechers"`
		Completed *int          `json:"completed"`
		Error     string        `json:"error"`
	}
	seen := map[string]bool{}
	for i, l := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		var e line
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("stdout line %d %q: %v", i+1, l, err)
		}
		if e.Error != "" || e.Seeders == nil || e.Leechers == nil {
			t.Errorf("%s, swarm %v: error %q, seeders %v, leechers %v", e.URL, e.Swarm, e.Error, e.Seeders, e.Leechers)
			continue
		}
		n := 0
		for _, hs := range held.tracker {
			if hs[e.Swarm] {
				n++
			}
		}
		if *e.Seeders+*e.Leechers != n {
			t.Errorf("%s, swarm %v: %d seeders + %d leechers, but opentracker's announce reply lists %d peers", e.URL, e.Swarm, *e.Seeders, *e.Leechers, n)
		}
		seen[e.URL+" "+e.Swarm.String()] = true
	}
	for _, u := range []string{s.ot.HTTP, s.ot.UDP} {
		for _, h := range s.hashes {
			if !seen[u+" "+h.String()] {
				t.Errorf("no scrape result for %s, swarm %v; stdout:\n%s", u, h, r.stdout)
			}
		}
	}
}
