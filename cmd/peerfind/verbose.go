package main

// -v/--verbose: what the search does, as it happens, on standard error, so
// that "why no peers?" can be answered by the user: each tracker request
// and its answer, each DHT lookup with the peers and the nodes that gave
// them and how it ended, and where the DHT starts from. The tracing wraps
// the two interfaces discovery asks its sources through
// (tracker.Announcer, discovery.PeerLookup); the libraries stay silent.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

// verboseLog writes time-stamped lines from any goroutine.
type verboseLog struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func newVerboseLog(w io.Writer) *verboseLog { return &verboseLog{w: w, start: time.Now()} }

func (l *verboseLog) printf(format string, args ...any) {
	if l == nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "[%8.3fs] %s\n", time.Since(l.start).Seconds(), printable(msg))
}

// dhtQuery logs one DHT query and how it ended (dht.Config.Trace).
func (l *verboseLog) dhtQuery(q dht.QueryTrace) {
	took := roundDur(q.RTT)
	switch {
	case q.Err == nil:
		l.printf("DHT: %s to %s: reply in %s, %s, %s", q.Method, q.Addr, took, plural(q.Nodes, "node"), plural(q.Peers, "peer"))
	case errors.Is(q.Err, dht.ErrTimeout):
		l.printf("DHT: %s to %s: no answer (timed out after %s)", q.Method, q.Addr, took)
	case errors.Is(q.Err, context.Canceled):
		l.printf("DHT: %s to %s: no answer before the lookup ended (%s)", q.Method, q.Addr, took)
	default:
		l.printf("DHT: %s to %s: error after %s: %v", q.Method, q.Addr, took, q.Err)
	}
}

// tracingAnnouncer logs each announce and its answer.
type tracingAnnouncer struct {
	tracker.Announcer
	log *verboseLog
}

func (a tracingAnnouncer) Announce(ctx context.Context, u string, req tracker.AnnounceRequest) (*tracker.AnnounceResponse, error) {
	ev := req.Event.String()
	if ev == "" {
		ev = "re-announce"
	}
	a.log.printf("tracker %s: announce %s for %s", u, ev, req.InfoHash)
	start := time.Now()
	resp, err := a.Announcer.Announce(ctx, u, req)
	took := roundDur(time.Since(start))
	switch {
	case err != nil && ctx.Err() != nil:
		a.log.printf("tracker %s: given up after %s (the search ended)", u, took)
	case err != nil:
		a.log.printf("tracker %s: %s, after %s", u, plainError(err), took)
	default:
		a.log.printf("tracker %s: answered in %s: %s, %s, %s, interval %s", u, took, plural(len(resp.Peers), "peer"),
			countNoun(resp.Seeders, "seeder"), countNoun(resp.Leechers, "leecher"), resp.Interval)
	}
	return resp, err
}

// tracingLookup logs each DHT lookup, the peers it finds and how it ends.
type tracingLookup struct {
	discovery.PeerLookup
	log *verboseLog
}

func (l tracingLookup) GetPeers(ctx context.Context, h metainfo.Hash, fn func(peer, from netip.AddrPort)) (dht.LookupStats, error) {
	l.log.printf("DHT: get_peers lookup for %s", h)
	st, err := l.PeerLookup.GetPeers(ctx, h, func(p, from netip.AddrPort) {
		l.log.printf("DHT: node %s gave peer %s", from, p)
		fn(p, from)
	})
	var b strings.Builder
	fmt.Fprintf(&b, "DHT: lookup for %s ended after %s: %d nodes queried, %d answered, %d timed out, %d errors, %s",
		h, roundDur(st.Duration), st.Queried, st.Answered, st.TimedOut, st.Errors, plural(st.Peers, "peer"))
	if st.Converged {
		b.WriteString(", converged (the closest nodes answered)")
	}
	switch {
	case err != nil && ctx.Err() != nil:
		b.WriteString("; cut short: the search ended")
	case err != nil:
		b.WriteString("; " + dhtPlainError(err))
	}
	l.log.printf("%s", b.String())
	return st, err
}

// AddNode passes the torrent's nodes on, if the lookup takes them.
func (l tracingLookup) AddNode(a netip.AddrPort) {
	if na, ok := l.PeerLookup.(discovery.NodeAdder); ok {
		l.log.printf("DHT: starting node %s (from the torrent)", a)
		na.AddNode(a)
	}
}

// routerFailure matches one router's resolution failure in the DHT's
// no-start error: `dht: router "host:port": lookup host on …: no such host`.
var routerFailure = regexp.MustCompile(`router "([^"]+)": ([^;)]*)`)

// dhtPlainError says a DHT failure in a user's words: which bootstrap
// routers did not resolve (and whether that looks like no DNS at all),
// which nodes did not answer. Other errors are kept as they are.
func dhtPlainError(err error) string {
	msg := err.Error()
	if !errors.Is(err, dht.ErrNoNodes) {
		return msg
	}
	if i := strings.Index(msg, "bootstrap routers resolved"); i >= 0 {
		var names []string
		dnsFailed := 0
		for _, m := range routerFailure.FindAllStringSubmatch(msg, -1) {
			names = append(names, m[1])
			if strings.Contains(m[2], "no such host") || strings.Contains(m[2], "lookup ") {
				dnsFailed++
			}
		}
		s := "no DHT node to start from: "
		if len(names) == 1 {
			s += "the bootstrap router " + names[0] + " did not resolve"
		} else {
			s += fmt.Sprintf("none of the %d bootstrap routers resolved (%s)", len(names), strings.Join(names, ", "))
		}
		if dnsFailed == len(names) && len(names) > 1 {
			s += ": no DNS?"
		}
		return s
	}
	if i := strings.Index(msg, "no answer from "); i >= 0 {
		return "no DHT node answered: no answer from " + strings.TrimSuffix(msg[i+len("no answer from "):], ")")
	}
	return msg
}
