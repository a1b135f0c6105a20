package main

// The output of `peerfind peers`. Standard output carries only results: one
// ip:port per line, or with --json one NDJSON event per line. Everything
// for humans (status line, summary, warnings) goes to standard error.
//
// NDJSON schema (every line is one object with a "type"; times are
// milliseconds since the search started, as numbers):
//
//	{"type":"peer","address":"203.0.113.5:6881","ip":"203.0.113.5","port":6881,
//	 "sources":["udp://tracker.example:1337"],"swarm":"<40 hex>","first_seen_ms":41.2}
//	    a peer seen for the first time; "sources" holds the source that named it.
//	{"type":"seen","address":"203.0.113.5:6881","source":"dht","sources":["udp://…","dht"],"elapsed_ms":730.5}
//	    an already reported peer named by one more source.
//	{"type":"tracker","url":"…","tier":0,"swarm":"<hex>","event":"started","ok":true,
//	 "peers":50,"new_peers":48,"seeders":120,"leechers":7,"interval_s":1800,
//	 "latency_ms":40.1,"elapsed_ms":41.2,"warning":"…","error":"…"}
//	    one announce finished; "seeders"/"leechers" are null when unknown, "error"
//	    is present (and "ok" false) when it failed. "event" is "" for a re-announce,
//	    "stopped" for the goodbye sent at the end.
//	{"type":"dht","swarm":"<hex>","lookup":1,"queried":120,"answered":97,"timed_out":23,
//	 "errors":0,"round_trips":5,"peers":64,"new_peers":60,"converged":true,
//	 "duration_ms":900.3,"elapsed_ms":930.0,"error":"…"}
//	    one DHT lookup finished.
//	{"type":"summary","peers":96,"reason":"complete","duration_ms":1203.4,"first_peer_ms":41.2,
//	 "swarms":["<hex>"],"dht_skipped":"…","sources":[{"name":"dht","kind":"dht","peers":60,
//	 "unique":48,"queries":2,"errors":0,"error":"…","first_peer_ms":300.1,
//	 "seeders":null,"leechers":null}]}
//	    the last line. "reason" is complete, settled (the answering sources
//	    finished, the silent ones were given up: see --settle), timeout,
//	    max-peers or canceled.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

func optCount(n int) *int {
	if n < 0 {
		return nil
	}
	return &n
}

type jsonPeer struct {
	Type        string        `json:"type"`
	Address     string        `json:"address"`
	IP          string        `json:"ip"`
	Port        uint16        `json:"port"`
	Sources     []string      `json:"sources"`
	Swarm       metainfo.Hash `json:"swarm"`
	FirstSeenMS float64       `json:"first_seen_ms"`
	Via         string        `json:"via,omitempty"` // source "pex": the peer that named it
}

type jsonSeen struct {
	Type      string   `json:"type"`
	Address   string   `json:"address"`
	Source    string   `json:"source"`
	Sources   []string `json:"sources"`
	ElapsedMS float64  `json:"elapsed_ms"`
	Via       string   `json:"via,omitempty"`
}

type jsonTracker struct {
	Type      string        `json:"type"`
	URL       string        `json:"url"`
	Tier      int           `json:"tier"`
	Swarm     metainfo.Hash `json:"swarm"`
	Event     string        `json:"event"`
	OK        bool          `json:"ok"`
	Peers     int           `json:"peers"`
	NewPeers  int           `json:"new_peers"`
	Seeders   *int          `json:"seeders"`
	Leechers  *int          `json:"leechers"`
	IntervalS float64       `json:"interval_s,omitempty"`
	LatencyMS float64       `json:"latency_ms"`
	ElapsedMS float64       `json:"elapsed_ms"`
	Warning   string        `json:"warning,omitempty"`
	Error     string        `json:"error,omitempty"`
}

type jsonDHT struct {
	Type       string        `json:"type"`
	Swarm      metainfo.Hash `json:"swarm"`
	Lookup     int           `json:"lookup"`
	Queried    int           `json:"queried"`
	Answered   int           `json:"answered"`
	TimedOut   int           `json:"timed_out"`
	Errors     int           `json:"errors"`
	RoundTrips int           `json:"round_trips"`
	Peers      int           `json:"peers"`
	NewPeers   int           `json:"new_peers"`
	Converged  bool          `json:"converged"`
	DurationMS float64       `json:"duration_ms"`
	ElapsedMS  float64       `json:"elapsed_ms"`
	Error      string        `json:"error,omitempty"`
}

type jsonSource struct {
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	Peers       int      `json:"peers"`
	Unique      int      `json:"unique"`
	Queries     int      `json:"queries"`
	Errors      int      `json:"errors"`
	Error       string   `json:"error,omitempty"`
	FirstPeerMS *float64 `json:"first_peer_ms"`
	Seeders     *int     `json:"seeders"`
	Leechers    *int     `json:"leechers"`
}

type jsonSummary struct {
	Type        string          `json:"type"`
	Peers       int             `json:"peers"`
	Reason      string          `json:"reason"`
	DurationMS  float64         `json:"duration_ms"`
	FirstPeerMS *float64        `json:"first_peer_ms"`
	Swarms      []metainfo.Hash `json:"swarms"`
	DHTSkipped  string          `json:"dht_skipped,omitempty"`
	Sources     []jsonSource    `json:"sources"`
	Verify      *jsonVerifySum  `json:"verify,omitempty"`
}

// printer writes the results of a search to standard output, filtering the
// address families the user asked for.
type printer struct {
	out   io.Writer
	json  bool
	only4 bool
	only6 bool
	noDHT bool // --no-dht: the summary names the flag as the reason the DHT was skipped
	// verify: --verify: peers are printed once they answer the handshake
	// (verify.go); table: as a table of every check, for people.
	verify, table bool
	tableStarted  bool
	shown         int   // peers printed
	werr          error // first write error (a closed pipe): the search stops
}

func (p *printer) want(a netip.AddrPort) bool {
	switch {
	case p.only4:
		return a.Addr().Is4()
	case p.only6:
		return a.Addr().Is6()
	}
	return true
}

func (p *printer) line(v any) {
	if p.werr != nil {
		return
	}
	if p.json {
		b, err := json.Marshal(v)
		if err != nil {
			p.werr = err
			return
		}
		_, p.werr = p.out.Write(append(b, '\n'))
		return
	}
	_, p.werr = fmt.Fprintln(p.out, v)
}

// linef prints a formatted line as is (--table).
func (p *printer) linef(format string, args ...any) {
	if p.werr == nil {
		_, p.werr = fmt.Fprintf(p.out, format, args...)
	}
}

// event prints one discovery event.
func (p *printer) event(e discovery.Event) {
	switch e := e.(type) {
	case *discovery.PeerEvent:
		if !p.want(e.Peer) {
			return
		}
		if p.verify {
			p.peerVerifying(e)
			return
		}
		if e.New {
			p.shown++
			if !p.json {
				p.line(e.Peer.String())
				return
			}
			p.line(jsonPeer{Type: "peer", Address: e.Peer.String(), IP: e.Peer.Addr().String(), Port: e.Peer.Port(),
				Sources: e.Sources, Swarm: e.Swarm, FirstSeenMS: ms(e.At), Via: via(e)})
		} else if p.json {
			p.line(jsonSeen{Type: "seen", Address: e.Peer.String(), Source: e.Source, Sources: e.Sources, ElapsedMS: ms(e.At), Via: via(e)})
		}
	case *discovery.TrackerEvent:
		if !p.json {
			return
		}
		j := jsonTracker{Type: "tracker", URL: e.URL, Tier: e.Tier, Swarm: e.InfoHash, Event: e.Event.String(), OK: e.Err == nil,
			NewPeers: e.NewPeers, LatencyMS: ms(e.Latency), ElapsedMS: ms(e.At)}
		if r := e.Response; r != nil {
			j.Peers, j.Seeders, j.Leechers = len(r.Peers), optCount(r.Seeders), optCount(r.Leechers)
			j.IntervalS, j.Warning = r.Interval.Seconds(), r.Warning
		}
		if e.Err != nil {
			j.Error = plainError(e.Err)
		}
		p.line(j)
	case *discovery.DHTEvent:
		if !p.json {
			return
		}
		s := e.Stats
		j := jsonDHT{Type: "dht", Swarm: e.Swarm, Lookup: e.Lookup, Queried: s.Queried, Answered: s.Answered, TimedOut: s.TimedOut,
			Errors: s.Errors, RoundTrips: s.RoundTrips, Peers: s.Peers, NewPeers: e.NewPeers, Converged: s.Converged,
			DurationMS: ms(s.Duration), ElapsedMS: ms(e.At)}
		if e.Err != nil {
			j.Error = plainError(e.Err)
		}
		p.line(j)
	case *discovery.VerifyEvent, *discovery.MetadataEvent:
		p.verifyEvent(e)
	}
}

// summary prints the closing summary line (JSON only).
func (p *printer) summary(sum *discovery.Summary) {
	if !p.json {
		return
	}
	j := jsonSummary{Type: "summary", Peers: p.shown, Reason: string(sum.Reason), DurationMS: ms(sum.Duration),
		Swarms: sum.Swarms, DHTSkipped: sum.DHTSkipped.String(), Sources: []jsonSource{}}
	if sum.DHTSkipped == discovery.SkipNoDHT && p.noDHT {
		j.DHTSkipped = "--no-dht" // the user's choice, in the user's words
	}
	if len(sum.Peers) > 0 {
		f := ms(sum.FirstPeer)
		j.FirstPeerMS = &f
	}
	for _, s := range sum.Sources {
		js := jsonSource{Name: s.Name, Kind: s.Kind.String(), Peers: s.Peers, Unique: s.Unique, Queries: s.Queries, Errors: s.Errors,
			Seeders: optCount(s.Seeders), Leechers: optCount(s.Leechers)}
		if s.Err != nil {
			js.Error = plainError(s.Err)
		}
		if s.Peers > 0 {
			f := ms(s.FirstPeer)
			js.FirstPeerMS = &f
		}
		j.Sources = append(j.Sources, js)
	}
	j.Verify = verifySummaryJSON(sum.Verify)
	p.line(j)
}

// plainError says what went wrong in words a user reads at a glance, keeping
// the detail after it.
func plainError(err error) string {
	var fe *tracker.FailureError
	var se *tracker.StatusError
	switch {
	case errors.As(err, &fe):
		return "tracker refused: " + fe.Reason
	case errors.As(err, &se):
		return fmt.Sprintf("tracker answered HTTP %d", se.StatusCode)
	case errors.Is(err, tracker.ErrRefused):
		return "connection refused (nothing listens there)"
	case errors.Is(err, tracker.ErrTimeout):
		return "no answer (timed out)"
	case errors.Is(err, tracker.ErrDNS):
		return "host not found"
	case errors.Is(err, tracker.ErrBadURL):
		return "unusable URL: " + err.Error()
	case errors.Is(err, tracker.ErrBadResponse):
		return "malformed answer: " + err.Error()
	case errors.Is(err, dht.ErrNoNodes):
		return dhtPlainError(err)
	}
	return err.Error()
}

// familySummary returns sum with each source's peer count limited to the
// peers of the address family the user asked for (-4, -6), so the summary
// counts what was printed.
func familySummary(sum *discovery.Summary, want func(netip.AddrPort) bool) *discovery.Summary {
	out := *sum
	out.Peers = nil
	count := map[string]int{}
	for _, p := range sum.Peers {
		if want(p.Addr) {
			out.Peers = append(out.Peers, p)
			for _, s := range p.Sources {
				count[s]++
			}
		}
	}
	out.Sources = slices.Clone(sum.Sources)
	for i := range out.Sources {
		out.Sources[i].Peers = count[out.Sources[i].Name]
	}
	if len(out.Peers) > 0 {
		out.FirstPeer = out.Peers[0].FirstSeen
	}
	return &out
}

// writeSummary writes the human summary of a search: one row per source.
func writeSummary(w io.Writer, sum *discovery.Summary, shown int, follow bool) {
	reason := map[discovery.StopReason]string{
		discovery.StopComplete: "every source finished",
		discovery.StopTimeout:  "timed out",
		discovery.StopMaxPeers: "--max-peers reached",
		discovery.StopCanceled: "interrupted",
		discovery.StopSettled:  "every answering source finished",
	}[sum.Reason]
	if sum.Reason == discovery.StopSettled {
		silent := 0
		for _, s := range sum.Sources {
			if s.Queries == 0 && s.Kind == discovery.KindTracker {
				silent++
			}
		}
		reason += fmt.Sprintf("; %s silent, given up", plural(silent, "tracker"))
	}
	if follow && sum.Reason == discovery.StopCanceled {
		reason = "stopped"
	}
	first := ""
	if shown > 0 {
		first = fmt.Sprintf(", first after %s", roundDur(sum.FirstPeer))
	}
	fmt.Fprintf(w, "%s in %s%s (%s)\n", plural(shown, "peer"), roundDur(sum.Duration), first, reason)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SOURCE\tPEERS\tFIRST\tRESULT")
	for _, s := range sum.Sources {
		firstPeer := "-"
		if s.Peers > 0 {
			firstPeer = roundDur(s.FirstPeer)
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", s.Name, s.Peers, firstPeer, sourceResult(s, sum))
	}
	tw.Flush()
	if sum.DHTSkipped == discovery.SkipPrivate {
		fmt.Fprintf(w, "DHT not used: %s (--allow-dht-private overrides)\n", sum.DHTSkipped)
	}
	writeVerifySummary(w, sum.Verify)
}

func sourceResult(s discovery.SourceSummary, sum *discovery.Summary) string {
	var parts []string
	switch s.Kind {
	case discovery.KindMagnet:
		parts = append(parts, "given in the magnet link")
	case discovery.KindTracker:
		if s.Errors < s.Queries {
			r := "ok"
			if s.Seeders >= 0 || s.Leechers >= 0 {
				r += ", " + countNoun(s.Seeders, "seeder") + ", " + countNoun(s.Leechers, "leecher")
			}
			parts = append(parts, r)
		}
	case discovery.KindPEX:
		return plural(s.Queries, "ut_pex message") + " from verified peers"
	case discovery.KindDHT:
		if d := s.DHT; s.Queries > s.Errors {
			parts = append(parts, fmt.Sprintf("%s, %d nodes queried, %d answered", plural(s.Queries, "lookup"), d.Queried, d.Answered))
		}
	}
	if s.Err != nil {
		e := "error: " + plainError(s.Err)
		if s.Errors > 1 {
			e = fmt.Sprintf("%d errors, last: %s", s.Errors, plainError(s.Err))
		}
		parts = append(parts, e)
	}
	if s.Queries == 0 && s.Kind != discovery.KindMagnet {
		switch sum.Reason {
		case discovery.StopSettled:
			parts = append(parts, "no answer (given up after "+roundDur(sum.Duration)+")")
		case discovery.StopTimeout:
			parts = append(parts, "no answer before the timeout")
		case discovery.StopMaxPeers:
			parts = append(parts, "not finished when --max-peers was reached")
		case discovery.StopCanceled:
			parts = append(parts, "no answer yet (interrupted)")
		default:
			parts = append(parts, "no answer yet")
		}
	}
	return strings.Join(parts, "; ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// countNoun is plural for a count that may be unknown (negative).
func countNoun(n int, what string) string {
	if n < 0 {
		return "? " + what + "s"
	}
	return plural(n, what)
}

// roundDur rounds a duration for people: ms below a second, else 0.01 s.
func roundDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}
