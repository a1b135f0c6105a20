package e2e

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/interop/internal/thirdparty"
	"github.com/peerfind/peerfind/metainfo"
)

// ltNodeEvent is the part of lt.py node's JSON lines this test reads.
type ltNodeEvent struct {
	Event string `json:"event"`
	Addr  string `json:"addr"`
	ID    string `json:"id"`
	Msg   string `json:"msg"`
}

// TestScrapeDHT runs `peerfind scrape HASH --bootstrap NODE` against a
// libtorrent 2.0 DHT node holding a swarm that our nodes announced into it,
// 4 as seeds (BEP 33 seed=1) and 6 as leechers, each from its own IP: the
// DHT row (table and --json) must show libtorrent's BEP 33 estimate, from
// one node, and a bare hash needs no tracker. The hash is chosen next to
// libtorrent's id, so libtorrent is among the k closest nodes (our
// announcers answer queries and store announces too, but send the
// read-only command, which never answered them, values without filters:
// BEP 33's legacy rule adds those as leechers unless libtorrent's seed
// filter holds them, which leaves the counts as they are).
func TestScrapeDHT(t *testing.T) {
	requireLibtorrent(t)
	const seeds, leechers = 4, 6
	thirdparty.RetryAfterCrash(t, "python3-libtorrent (lt.py node)", func(try int) thirdparty.Outcome {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		p, err := thirdparty.StartProcess(func(line string, err error) ltNodeEvent {
			return ltNodeEvent{Event: "error", Msg: fmt.Sprintf("bad line %q: %v", line, err)}
		}, "node", "--listen", thirdparty.LoopbackIP(1700+try).String(), "--bootstrap", "", "--nodes", "", "--max-seconds", "90")
		if err != nil {
			t.Fatal(err)
		}
		defer p.Stop()
		ready, err := p.Wait(ctx, 0, func(e ltNodeEvent) bool { return e.Event == "ready" })
		if err != nil {
			if c := p.Crash(time.Second); c != nil {
				return thirdparty.Outcome{Crash: c}
			}
			t.Fatalf("libtorrent node did not start: %v", err)
		}
		ltAddr, err := netip.ParseAddrPort(ready.Addr)
		id, herr := hex.DecodeString(ready.ID)
		if err != nil || herr != nil || len(id) != 20 {
			t.Fatalf("ready event %+v", ready)
		}
		ih := metainfo.Hash(id)
		ih[19] ^= 0x33

		for i := range seeds + leechers {
			conn, err := thirdparty.ListenLoopback(thirdparty.LoopbackIP(1710 + i))
			if err != nil {
				t.Fatal(err)
			}
			n, err := dht.New(dht.Config{Conn4: conn, BootstrapNodes: []netip.AddrPort{ltAddr}, BootstrapRouters: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			announce := n.Announce
			if i < seeds {
				announce = n.AnnounceSeed
			}
			if _, err := announce(ctx, ih, uint16(7000+i), false); err != nil {
				if c := p.Crash(time.Second); c != nil {
					return thirdparty.Outcome{Crash: c, Contact: true}
				}
				t.Fatalf("announce from %v: %v", conn.LocalAddr(), err)
			}
		}

		r := runPeerfind(t, "scrape", ih.String(), "--bootstrap", ltAddr.String(), "--json")
		if c := p.Crash(0); c != nil {
			return thirdparty.Outcome{Crash: c, Contact: true}
		}
		var row struct {
			Type     string `json:"type"`
			Source   string `json:"source"`
			Swarm    string `json:"swarm"`
			Seeders  *int   `json:"seeders"`
			Leechers *int   `json:"leechers"`
			Nodes    int    `json:"nodes"`
			Error    string `json:"error"`
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &row) != nil {
			t.Fatalf("scrape --json: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		if row.Type != "scrape" || row.Source != "dht" || row.Swarm != ih.String() || row.Error != "" || row.Nodes != 1 ||
			row.Seeders == nil || row.Leechers == nil || *row.Seeders != seeds || *row.Leechers != leechers {
			t.Errorf("DHT row %s; want %d seeders and %d leechers from 1 node", lines[0], seeds, leechers)
		}

		r = runPeerfind(t, "scrape", ih.String(), "--bootstrap", ltAddr.String())
		want := fmt.Sprintf("dht %d %d - estimated (BEP 33) from 1 node", seeds, leechers)
		var got string
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(l, "dht ") {
				got = strings.Join(strings.Fields(l), " ")
			}
		}
		if r.code != 0 || !strings.HasPrefix(r.stdout, "SOURCE") || !strings.HasPrefix(got, want) {
			t.Errorf("scrape table: exit %d, stdout:\n%s\nwant the row %q; stderr %q", r.code, r.stdout, want, r.stderr)
		}
		if c := p.Crash(0); c != nil {
			return thirdparty.Outcome{Crash: c, Contact: true}
		}
		return thirdparty.Outcome{}
	})
}
