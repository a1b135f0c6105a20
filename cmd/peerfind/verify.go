package main

// `peerfind peers --verify`: every peer found is handshaken (package
// peerwire through discovery.Config.Verify); standard output lists the
// peers that answered for this torrent, or with --table a row for every
// check; --json adds a "verify" event per peer:
//
//	{"type":"verify","address":"127.0.0.1:6881","ip":"127.0.0.1","port":6881,"swarm":"<hex>",
//	 "ok":true,"result":"ok","error":"…","connect_ms":0.2,"rtt_ms":0.4,
//	 "client":"libtorrent 2.0.8","version":"libtorrent/2.0.8.0","peer_id":"-LT2080-…",
//	 "seed":true,"have":64,"pieces":64,"share":1,"extensions":["extensions","fast","ut_pex"],
//	 "sources":["udp://…","pex"],"elapsed_ms":120.3}
//	    one peer checked. "result" is ok, refused, timed out, reset, closed,
//	    wrong info hash, not BitTorrent, protocol error or error; "seed",
//	    "have", "pieces" and "share" are null when the peer did not say.
//	{"type":"metadata","address":"…","ok":false,"size":1342,"error":"…","elapsed_ms":…}
//	    `metadata` and `info --fetch`: one peer asked for the metadata.
//
// The "summary" event gains "verify": {"ok":3,"seeds":1,"leechers":2,
// "failed":{"refused":4,"timed out":1},"unchecked":0,"pex_messages":2}.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/peerfind/peerfind/discovery"
)

// verifyOptions are --verify and its companions.
type verifyOptions struct {
	on       bool
	noPEX    bool
	table    bool
	maxConns int
	timeout  time.Duration
	// find, if set, runs the search instead of discovery.Find (the
	// metadata command fetches the metadata as it searches).
	find func(ctx context.Context, tg *target, cfg *discovery.Config, fn func(discovery.Event)) (*discovery.Summary, error)
}

func addVerifyFlags(fl *pflag.FlagSet, v *verifyOptions) {
	fl.BoolVar(&v.on, "verify", false, "handshake every peer found; print only those that answer for this torrent (and learn more peers by PEX)")
	fl.BoolVar(&v.noPEX, "no-pex", false, "with --verify: do not ask verified peers for the peers they know (BEP 11 PEX)")
	fl.BoolVar(&v.table, "table", false, "with --verify: print a table of every peer checked (result, RTT, client, seed or leecher, extensions)")
	fl.IntVar(&v.maxConns, "max-conns", discovery.DefaultMaxConns, "with --verify: at most `N` connections to peers open at once")
	fl.DurationVar(&v.timeout, "verify-timeout", 0, "with --verify: give each peer this long to connect and answer the handshake (default 10s)")
}

// check validates the flags, as a usage error.
func (v *verifyOptions) check() error {
	switch {
	case !v.on && (v.noPEX || v.table):
		return usageError("--no-pex and --table go with --verify")
	case v.maxConns < 1:
		return usageError("--max-conns must be at least 1")
	case v.timeout < 0:
		return usageError("--verify-timeout must not be negative")
	}
	return nil
}

// config is the discovery configuration of the checks; nil without
// --verify. A .torrent gives the piece count, which makes shares exact.
func (v *verifyOptions) config(tg *target) *discovery.Verify {
	if !v.on {
		return nil
	}
	c := &discovery.Verify{PEX: !v.noPEX, MaxConns: v.maxConns, Timeout: v.timeout,
		Concurrency: min(discovery.DefaultVerifyConcurrency, v.maxConns)}
	if tg.meta != nil {
		c.NumPieces = tg.meta.Info.NumPieces
	}
	return c
}

type jsonVerify struct {
	Type       string   `json:"type"`
	Address    string   `json:"address"`
	IP         string   `json:"ip"`
	Port       uint16   `json:"port"`
	Swarm      string   `json:"swarm"`
	OK         bool     `json:"ok"`
	Result     string   `json:"result"`
	Error      string   `json:"error,omitempty"`
	ConnectMS  float64  `json:"connect_ms,omitempty"`
	RTTMS      float64  `json:"rtt_ms,omitempty"`
	Client     string   `json:"client,omitempty"`
	Version    string   `json:"version,omitempty"`
	PeerID     string   `json:"peer_id,omitempty"`
	Seed       *bool    `json:"seed"`
	Have       *int     `json:"have"`
	Pieces     *int     `json:"pieces"`
	Share      *float64 `json:"share"`
	Extensions []string `json:"extensions,omitempty"`
	Sources    []string `json:"sources"`
	ElapsedMS  float64  `json:"elapsed_ms"`
}

type jsonMetadata struct {
	Type      string  `json:"type"`
	Address   string  `json:"address"`
	OK        bool    `json:"ok"`
	Size      int     `json:"size,omitempty"`
	Error     string  `json:"error,omitempty"`
	ElapsedMS float64 `json:"elapsed_ms"`
}

type jsonVerifySum struct {
	OK          int            `json:"ok"`
	Seeds       int            `json:"seeds"`
	Leechers    int            `json:"leechers"`
	Failed      map[string]int `json:"failed"`
	Unchecked   int            `json:"unchecked"`
	PEXMessages int            `json:"pex_messages"`
}

func verifySummaryJSON(v *discovery.VerifySummary) *jsonVerifySum {
	if v == nil {
		return nil
	}
	j := &jsonVerifySum{OK: v.OK(), Seeds: v.Seeds, Leechers: v.Leechers, Failed: map[string]int{}, Unchecked: v.Unchecked, PEXMessages: v.PEX}
	for _, r := range discovery.VerifyResults()[1:] {
		if n := v.Results[r]; n > 0 {
			j.Failed[r.String()] = n
		}
	}
	return j
}

// peerVerifying handles a peer sighting under --verify: in JSON it is
// printed as always (the verify event follows), but only a verified peer
// is shown as a result.
func (p *printer) peerVerifying(e *discovery.PeerEvent) {
	if !p.json {
		return
	}
	if e.New {
		p.line(jsonPeer{Type: "peer", Address: e.Peer.String(), IP: e.Peer.Addr().String(), Port: e.Peer.Port(),
			Sources: e.Sources, Swarm: e.Swarm, FirstSeenMS: ms(e.At), Via: via(e)})
	} else {
		p.line(jsonSeen{Type: "seen", Address: e.Peer.String(), Source: e.Source, Sources: e.Sources, ElapsedMS: ms(e.At), Via: via(e)})
	}
}

// via is the "via" of a peer event: the peer whose PEX named it, if any.
func via(e *discovery.PeerEvent) string {
	if !e.Via.IsValid() {
		return ""
	}
	return e.Via.String()
}

// verifyEvent prints one check, or one metadata attempt.
func (p *printer) verifyEvent(e discovery.Event) {
	switch e := e.(type) {
	case *discovery.MetadataEvent:
		if p.json {
			j := jsonMetadata{Type: "metadata", Address: e.Peer.String(), OK: e.Err == nil, Size: e.Size, ElapsedMS: ms(e.At)}
			if e.Err != nil {
				j.Error = e.Err.Error()
			}
			p.line(j)
		}
	case *discovery.VerifyEvent:
		if !p.want(e.Peer) {
			return
		}
		ok := e.Result == discovery.VerifyOK
		if ok {
			p.shown++
		}
		switch {
		case p.json:
			p.line(verifyJSON(e))
		case p.table:
			p.tableRow(e)
		case ok:
			p.line(e.Peer.String())
		}
	}
}

func verifyJSON(e *discovery.VerifyEvent) jsonVerify {
	j := jsonVerify{Type: "verify", Address: e.Peer.String(), IP: e.Peer.Addr().String(), Port: e.Peer.Port(), Swarm: e.Swarm.String(),
		OK: e.Result == discovery.VerifyOK, Result: e.Result.String(), ConnectMS: ms(e.Connect), RTTMS: ms(e.RTT),
		Client: e.Client, Version: e.Version, Extensions: e.Extensions, Sources: e.Sources, ElapsedMS: ms(e.At)}
	if e.Err != nil {
		j.Error = e.Err.Error()
	}
	if j.OK {
		j.PeerID = printablePeerID(e.PeerID)
		if pc := e.Pieces; pc.Known {
			seed, have := pc.All, pc.Have
			j.Seed = &seed
			if !pc.All || pc.Total > 0 { // have_all says "all", not how many
				j.Have = &have
			}
			if pc.Total > 0 {
				total := pc.Total
				j.Pieces = &total
			}
			if sh := pc.Share(); sh >= 0 {
				sh = float64(int(sh*1000+0.5)) / 1000
				j.Share = &sh
			}
		}
	}
	return j
}

// printablePeerID shows a peer id's printable bytes and %xx for the rest.
func printablePeerID(id [20]byte) string {
	var b strings.Builder
	for _, c := range id {
		if c >= 0x20 && c < 0x7f && c != '%' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}

// tableHeader is printed before the first row of --table.
const tableFormat = "%-23s %-15s %9s  %-22s %-15s %s\n"

func (p *printer) tableRow(e *discovery.VerifyEvent) {
	if !p.tableStarted {
		p.tableStarted = true
		p.linef(tableFormat, "PEER", "RESULT", "RTT", "CLIENT", "HAS", "EXTENSIONS / ERROR")
	}
	rtt, client, has, ext := "-", "-", "-", ""
	if e.Result == discovery.VerifyOK {
		rtt = roundDur(e.RTT)
		client = e.Client
		if client == "" {
			client = e.Version
		}
		if client == "" {
			client = "?"
		}
		has = hasText(e)
		ext = strings.Join(e.Extensions, ",")
	} else if e.Err != nil {
		ext = e.Err.Error()
	}
	p.linef(tableFormat, e.Peer.String(), e.Result.String(), rtt, client, has, ext)
}

// hasText says what a verified peer has: "seed", "leecher 42%", "leecher"
// (share unknown) or "?" (it did not say).
func hasText(e *discovery.VerifyEvent) string {
	pc := e.Pieces
	switch {
	case !pc.Known:
		return "?"
	case pc.All:
		return "seed"
	case pc.Share() >= 0:
		return fmt.Sprintf("leecher %.0f%%", 100*pc.Share())
	}
	return "leecher"
}

// writeVerifySummary adds the checks to the human summary: how many
// answered, seeds and leechers, and the rest by reason.
func writeVerifySummary(w io.Writer, v *discovery.VerifySummary) {
	if v == nil {
		return
	}
	checked := 0
	var failed []string
	for _, r := range discovery.VerifyResults() {
		checked += v.Results[r]
		if r != discovery.VerifyOK && v.Results[r] > 0 {
			failed = append(failed, fmt.Sprintf("%d %s", v.Results[r], r))
		}
	}
	fmt.Fprintf(w, "verified: %d of %d checked answered for this torrent (%s, %s", v.OK(), checked, plural(v.Seeds, "seed"), plural(v.Leechers, "leecher"))
	if n := v.OK() - v.Seeds - v.Leechers; n > 0 {
		fmt.Fprintf(w, ", %d did not say", n)
	}
	fmt.Fprint(w, ")")
	if len(failed) > 0 {
		fmt.Fprintf(w, "; not: %s", strings.Join(failed, ", "))
	}
	if v.Unchecked > 0 {
		fmt.Fprintf(w, "; %d not checked when the search ended", v.Unchecked)
	}
	fmt.Fprintln(w)
}
