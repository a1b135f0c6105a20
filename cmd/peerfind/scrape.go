package main

// `peerfind scrape TARGET`: ask every tracker of a torrent, and the DHT (BEP
// 33), how big its swarm is. Standard output carries the table (or with
// --json one NDJSON object per tracker and swarm, then one per swarm for
// the DHT):
//
//	{"type":"scrape","url":"udp://tracker.example:1337/announce","tier":0,
//	 "swarm":"<40 hex>","seeders":12,"leechers":3,"completed":140,
//	 "latency_ms":41.2,"error":"…"}
//	{"type":"scrape","source":"dht","swarm":"<40 hex>","seeders":10,
//	 "leechers":4,"nodes":8,"legacy":0,"queried":24,"answered":20,
//	 "latency_ms":850.1}
//
// "seeders", "leechers" and "completed" are null when the tracker did not
// report the swarm; the DHT's counts are estimates, "seeders" null when no
// node sent filters ("nodes"), "leechers" null when none sent filters or
// peers ("legacy": nodes that sent peers without filters). "error" is
// present when the source failed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

type scrapeOpts struct {
	trackers  []string
	json      bool
	timeout   time.Duration
	noDHT     bool
	bootstrap []string
}

func newScrapeCmd(c *cli) *cobra.Command {
	var o scrapeOpts
	cmd := &cobra.Command{
		Use:   "scrape TARGET",
		Short: "Ask each tracker of a torrent for its seeders, leechers and completed downloads",
		Long: `Scrape asks every tracker of TARGET (BEP 48 over HTTP, BEP 15 over UDP) for the
number of seeders, leechers and completed downloads of the swarm, and prints one
line per tracker: the counts, or why the tracker could not tell. It also scrapes
the DHT (BEP 33): a get_peers lookup whose closest nodes send Bloom filters of
the seeds and peers they store, merged into estimates (the "dht" row, with the
number of nodes that sent filters). A bare info hash needs no tracker.

TARGET is a .torrent file, an http(s):// URL of one (downloaded), "-" for a
.torrent on standard input, a magnet link, or a bare info hash (40 hex digits
or 32 base32 characters for v1, 64 hex digits for v2). --tracker adds trackers
to those the target names (a bare hash names none).

Exit status: 0 if at least one source answered, 1 if none did, 2 usage error.`,
		Example: `  peerfind scrape ubuntu.torrent
  peerfind scrape 'magnet:?xt=urn:btih:…' --json
  peerfind scrape 0123456789abcdef0123456789abcdef01234567
  peerfind scrape 0123456789abcdef0123456789abcdef01234567 --no-dht --tracker udp://tracker.example:1337/announce`,
		Args: oneTarget,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScrape(cmd.Context(), c, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.trackers, "tracker", nil, "add a tracker `URL` (repeatable)")
	f.BoolVar(&o.json, "json", false, "print one JSON object per tracker and swarm (NDJSON)")
	f.DurationVar(&o.timeout, "timeout", 15*time.Second, "give up on sources that have not answered after this long; 0: no limit but each tracker's own")
	f.BoolVar(&o.noDHT, "no-dht", false, "do not scrape the DHT")
	f.StringArrayVar(&o.bootstrap, "bootstrap", nil, "bootstrap the DHT from `host:port` instead of the public routers (repeatable)")
	return cmd
}

// dhtScrapeRow is the DHT's estimate of one swarm (BEP 33).
type dhtScrapeRow struct {
	Type      string        `json:"type"`
	Source    string        `json:"source"`
	Swarm     metainfo.Hash `json:"swarm"`
	Seeders   *int          `json:"seeders"`
	Leechers  *int          `json:"leechers"`
	Nodes     int           `json:"nodes"`  // nodes whose filters were merged
	Legacy    int           `json:"legacy"` // nodes that sent values but no filters
	Queried   int           `json:"queried"`
	Answered  int           `json:"answered"`
	LatencyMS float64       `json:"latency_ms"`
	Error     string        `json:"error,omitempty"`
	ok        bool
}

// scrapeDHT scrapes every swarm of hashes through node, at once.
func scrapeDHT(ctx context.Context, node *dht.Node, hashes []metainfo.Hash) []dhtScrapeRow {
	rows := make([]dhtScrapeRow, len(hashes))
	var wg sync.WaitGroup
	for i, h := range hashes {
		wg.Go(func() {
			start := time.Now()
			res, st, err := node.Scrape(ctx, h, nil)
			r := dhtScrapeRow{Type: "scrape", Source: "dht", Swarm: h, Nodes: res.Filters, Legacy: res.Legacy,
				Queried: st.Queried, Answered: st.Answered,
				LatencyMS: math.Round(float64(time.Since(start))/float64(time.Microsecond)) / 1000}
			r.Seeders, r.Leechers = scrapeCount(res.Seeds), scrapeCount(res.Peers)
			switch {
			case err != nil && r.Leechers == nil:
				r.Error = plainError(err)
			default:
				// A lookup cut short by --timeout still counts if filters came.
				r.ok = true
			}
			rows[i] = r
		})
	}
	wg.Wait()
	return rows
}

// scrapeRow is the answer of one tracker about one swarm.
type scrapeRow struct {
	Type      string        `json:"type"`
	URL       string        `json:"url"`
	Tier      int           `json:"tier"`
	Swarm     metainfo.Hash `json:"swarm"`
	Seeders   *int          `json:"seeders"`
	Leechers  *int          `json:"leechers"`
	Completed *int          `json:"completed"`
	LatencyMS float64       `json:"latency_ms"`
	Error     string        `json:"error,omitempty"`
	ok        bool
}

func runScrape(ctx context.Context, c *cli, arg string, o scrapeOpts) error {
	if o.timeout < 0 {
		return usageError("--timeout must not be negative, got %v", o.timeout)
	}
	for _, u := range o.trackers {
		if err := checkTrackerFlag(u); err != nil {
			return err
		}
	}
	for _, b := range o.bootstrap {
		if err := checkHostPortFlag("bootstrap", b); err != nil {
			return err
		}
	}
	tgt, err := loadTargetContext(ctx, arg, c.stdin)
	if err != nil {
		return err
	}
	if len(tgt.InfoHashes) == 0 {
		return errors.New("the target names no info hash")
	}
	tiers := tgt.Trackers
	for _, u := range o.trackers {
		tiers = append(tiers, []string{u})
	}
	type job struct {
		url  string
		tier int
	}
	var jobs []job
	seen := map[string]bool{}
	for i, tier := range tiers {
		for _, u := range tier {
			if u = strings.TrimSpace(u); u != "" && !seen[tracker.NormalizeURL(u)] {
				seen[tracker.NormalizeURL(u)] = true
				jobs = append(jobs, job{u, i})
			}
		}
	}
	useDHT := !o.noDHT && tgt.DHTAllowed(false) // BEP 27: a private torrent's swarm is its trackers'
	if len(jobs) == 0 && !useDHT {
		if o.noDHT {
			return usageError("the target names no trackers and --no-dht leaves nothing to ask: add trackers with --tracker URL")
		}
		return usageError("the target names no trackers and is private (BEP 27: no DHT): add some with --tracker URL")
	}
	var node *dht.Node
	if useDHT {
		// A cold node (no saved state): from --bootstrap, else the routers.
		node, err = newDHTNode(c.stderr, &searchOptions{bootstrap: o.bootstrap})
		var se *statusError
		switch {
		case errors.As(err, &se):
			return err
		case err != nil:
			return withStatus(exitError, err)
		}
		defer node.Close()
	}

	client := &tracker.Client{}
	if len(jobs) == 1 {
		connectUDP(ctx, client, jobs[0].url)
	}
	defer client.Close()
	if o.timeout > 0 { // 0: no limit but each tracker's own timeout, as in peers
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	rows := make([][]scrapeRow, len(jobs))
	var dhtRows []dhtScrapeRow
	var wg sync.WaitGroup
	if node != nil {
		wg.Go(func() { dhtRows = scrapeDHT(ctx, node, tgt.InfoHashes) })
	}
	sem := make(chan struct{}, 64) // bound the open sockets of a huge list
	for i, j := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			stats, err := client.Scrape(ctx, j.url, tgt.InfoHashes...)
			lat := math.Round(float64(time.Since(start))/float64(time.Microsecond)) / 1000
			for _, h := range tgt.InfoHashes {
				r := scrapeRow{Type: "scrape", URL: j.url, Tier: j.tier, Swarm: h, LatencyMS: lat}
				if err != nil {
					r.Error = scrapeErrorText(err)
				} else if s, ok := stats[h]; ok {
					r.ok = true
					r.Seeders, r.Leechers, r.Completed = scrapeCount(s.Seeders), scrapeCount(s.Leechers), scrapeCount(s.Completed)
				} else {
					r.ok = true // it answered, without this swarm
				}
				rows[i] = append(rows[i], r)
			}
		})
	}
	wg.Wait()

	answered := false
	for _, rs := range rows {
		for _, r := range rs {
			answered = answered || r.ok
		}
	}
	for _, r := range dhtRows {
		answered = answered || r.ok
	}
	if o.json {
		enc := json.NewEncoder(c.stdout)
		for _, rs := range rows {
			for _, r := range rs {
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
		}
		for _, r := range dhtRows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	} else if err := writeScrapeTable(c.stdout, rows, dhtRows, len(tgt.InfoHashes) > 1); err != nil {
		return err
	}
	if !answered {
		if node != nil {
			return withStatus(exitError, errors.New("no source answered the scrape: no tracker, and no DHT node"))
		}
		return withStatus(exitError, errors.New("no tracker answered the scrape"))
	}
	return nil
}

func scrapeCount(n int) *int {
	if n < 0 {
		return nil
	}
	return &n
}

func writeScrapeTable(w io.Writer, rows [][]scrapeRow, dhtRows []dhtScrapeRow, showSwarm bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "SOURCE\t"
	if showSwarm {
		head += "SWARM\t"
	}
	fmt.Fprintln(tw, head+"SEEDERS\tLEECHERS\tCOMPLETED")
	for _, rs := range rows {
		for _, r := range rs {
			line := r.URL + "\t"
			if showSwarm {
				line += r.Swarm.String()[:12] + "\t"
			}
			switch {
			case r.Error != "":
				line += "error: " + r.Error
			case r.Seeders == nil && r.Leechers == nil && r.Completed == nil:
				line += "not reported"
			default:
				line += fmt.Sprintf("%s\t%s\t%s", scrapeNum(r.Seeders), scrapeNum(r.Leechers), scrapeNum(r.Completed))
			}
			fmt.Fprintln(tw, line)
		}
	}
	for _, r := range dhtRows {
		line := "dht\t"
		if showSwarm {
			line += r.Swarm.String()[:12] + "\t"
		}
		switch {
		case r.Error != "":
			line += "error: " + r.Error
		case r.Leechers == nil:
			line += fmt.Sprintf("no node holds this swarm (%d nodes queried, %d answered, none sent filters or peers)", r.Queried, r.Answered)
		default:
			line += fmt.Sprintf("%s\t%s\t-\t%s", scrapeNum(r.Seeders), scrapeNum(r.Leechers), dhtEstimateText(r))
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// dhtEstimateText says what a DHT estimate rests on: the filters of how
// many nodes, and the peers of how many more that sent no filters (BEP 33
// counts those as leechers).
func dhtEstimateText(r dhtScrapeRow) string {
	switch {
	case r.Legacy == 0:
		return "estimated (BEP 33) from " + plural(r.Nodes, "node")
	case r.Nodes == 0:
		return "estimated from the peers of " + plural(r.Legacy, "node") + " (no filters: seeders unknown, all counted as leechers)"
	}
	return fmt.Sprintf("estimated (BEP 33) from %s, and the peers of %d more without filters as leechers", plural(r.Nodes, "node"), r.Legacy)
}

func scrapeNum(p *int) string {
	if p == nil {
		return "?"
	}
	return fmt.Sprint(*p)
}

// scrapeErrorText says what went wrong in words, keeping the detail.
func scrapeErrorText(err error) string {
	var fe *tracker.FailureError
	var se *tracker.StatusError
	var te *tracker.Error
	detail := err.Error()
	if errors.As(err, &te) {
		detail = te.Err.Error()
	}
	switch {
	case errors.As(err, &fe):
		return "tracker refused: " + fe.Reason
	case errors.As(err, &se):
		return fmt.Sprintf("tracker answered HTTP %d", se.StatusCode)
	case errors.Is(err, tracker.ErrNoScrape):
		return "no scrape URL (the announce URL does not end in /announce…)"
	case errors.Is(err, tracker.ErrTimeout):
		return "no answer (timed out)"
	case errors.Is(err, tracker.ErrRefused):
		return "connection refused (nothing listens there)"
	}
	return detail
}

// connectUDP gives client a UDP socket connected to the one udp:// tracker
// a scrape asks, if that is what rawURL is: such a socket hears the ICMP
// "port unreachable" of a closed port, so a tracker that is not running is
// reported as refused at once instead of after 14 s of retransmissions.
// Anything that does not work out (not udp, no address) leaves the client
// to its shared sockets and its own error reporting.
func connectUDP(ctx context.Context, client *tracker.Client, rawURL string) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || !strings.EqualFold(u.Scheme, "udp") || u.Port() == "" {
		return
	}
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", u.Hostname())
	cancel()
	if err != nil || len(addrs) != 1 {
		return // several addresses: the client races them on its own sockets
	}
	a := addrs[0].Unmap()
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(port))))
	if err != nil {
		return
	}
	if a.Is4() {
		client.Conn4 = conn
	} else {
		client.Conn6 = conn
	}
}
