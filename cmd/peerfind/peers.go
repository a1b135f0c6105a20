package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/tracker"
)

// peersFlags are the flags of `peerfind peers`.
type peersFlags struct {
	search          searchOptions
	trackers        []string
	noTrackers      bool
	noState         bool
	stateDir        string
	timeoutExplicit bool
	waitAll         bool
	verbose         bool
}

func newPeersCmd(c *cli) *cobra.Command {
	f := &peersFlags{}
	cmd := &cobra.Command{
		Use:   "peers TARGET",
		Short: "Find the peers of a swarm through its trackers and the DHT",
		Long: `Find the peers of a swarm through its trackers and the Mainline DHT, all at once,
and print each peer as ip:port on standard output the moment it is found
(IPv6 addresses in brackets). Standard output carries nothing else, so it
can be piped; a live status line (on a terminal) and a summary of where the
peers came from go to standard error.

TARGET is a .torrent file, an http(s):// URL of one (downloaded), "-" for a
.torrent on standard input, a magnet link, or a bare info hash (40 hex digits
or 32 base32 characters for v1, 64 hex digits for v2). A hybrid
v1+v2 torrent is looked up in both swarms. A private torrent (BEP 27) is
looked up on its trackers only unless --allow-dht-private is given.

Every tracker of every tier is asked at once (--tracker-policy all), each
once however often or in whatever spelling the tiers repeat it; with
--tracker-policy bep12 the tiers are walked in order as BEP 12 says, up to
the first tracker that answers.

The search ends by itself once every tracker has answered or failed and the
DHT lookups have converged, or at --timeout, or at --max-peers. Dead
trackers do not hold it: once the DHT is done and some source has answered,
it ends when nothing has been reported for --settle (1.5s), and lists the
trackers still silent as "no answer (given up after ...)"; --wait-all waits
for each of them to answer or time out instead. With
--follow it keeps going, re-announcing at each tracker's interval and
repeating DHT lookups, printing only new peers, until interrupted.
On Ctrl-C (SIGINT) or SIGTERM it stops cleanly: trackers are told we left
(waiting at most 3 s for them), the DHT state is saved and the summary
printed. A second Ctrl-C exits at once, with status 130.

The DHT routing table is saved between runs in --state-dir (default:
$XDG_STATE_HOME/peerfind if set, else the user's cache directory, e.g.
~/.cache/peerfind), so later runs start warm.

With --verify every peer found is connected to and handshaken (BEP 3,
BEP 10), at most --max-conns at a time, and standard output lists only the
peers that answered for this torrent; the summary counts the others by
reason (refused, timed out, reset, closed, wrong info hash, not BitTorrent).
--table prints a row per peer checked instead: result, handshake round
trip, client, seed or leecher (and its share), extensions. The peers that
verified peers name by PEX (BEP 11) join the search under the source
"pex", and are checked in turn; --no-pex turns that off, and a private
torrent never uses it (BEP 27). Without --verify no connection is made to
any peer. --max-peers then counts verified peers.

With --json, standard output is NDJSON, one event per line: "peer" (a new
peer: address, ip, port, sources, first_seen_ms), "seen" (a known peer named
by one more source), "tracker" (each announce's result or error, seeders,
leechers), "dht" (each lookup's statistics), with --verify "verify" (each peer's
check) and a final "summary".

Exit status: 0 peers found (however the search ended), 1 error (every source
failed), 2 usage error, 3 the search ran but found no peers (every source
finished, or --timeout cut it short), 130/143 interrupted by SIGINT/SIGTERM
before any peer was found (130 too for a second Ctrl-C).`,
		Example: `  peerfind peers ubuntu-24.04.iso.torrent
  peerfind peers 'magnet:?xt=urn:btih:...' --timeout 10s --max-peers 50
  curl -s https://example.org/x.torrent | peerfind peers -
  peerfind peers x.torrent --json | jq -r 'select(.type=="peer") | .address'
  peerfind peers x.torrent --follow          # until Ctrl-C
  peerfind peers x.torrent --verify --table  # who answers, client, seed or leecher
  peerfind peers 0123456789abcdef0123456789abcdef01234567 --no-dht \
      --tracker udp://127.0.0.1:6969 --tracker http://127.0.0.1:8000/announce
  peerfind peers x.torrent --no-trackers --bootstrap 127.0.0.1:6881 -4`,
		Args: oneTarget,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.timeoutExplicit = cmd.Flags().Changed("timeout")
			return runPeers(cmd, c, args[0], f)
		},
	}
	fl := cmd.Flags()
	o := &f.search
	fl.DurationVar(&o.timeout, "timeout", discovery.DefaultTimeout, "give up after this long; 0: no limit (with --follow: no limit unless given)")
	fl.DurationVar(&o.settle, "settle", discovery.DefaultSettle, "once the DHT is done and a source has answered, end when no source has reported anything for this `duration`; silent trackers are given up")
	fl.BoolVar(&f.waitAll, "wait-all", false, "wait for every tracker to answer or fail (no --settle rule)")
	fl.IntVar(&o.maxPeers, "max-peers", 0, "stop after `N` peers (0: no limit)")
	fl.BoolVar(&o.follow, "follow", false, "keep searching: re-announce at the trackers' intervals, repeat DHT lookups, print new peers")
	fl.BoolVar(&o.noDHT, "no-dht", false, "do not use the DHT")
	fl.BoolVar(&f.noTrackers, "no-trackers", false, "do not use the trackers (the torrent's, the magnet's or --tracker)")
	fl.StringArrayVar(&f.trackers, "tracker", nil, "also announce to this tracker `URL` (repeatable)")
	fl.Var(policyFlag{&o.trackerPolicy}, "tracker-policy", "which trackers to ask: all (every tier at once) or bep12 (BEP 12: tiers in order, the first tracker that answers)")
	fl.StringArrayVar(&o.bootstrap, "bootstrap", nil, "bootstrap the DHT from `host:port` instead of the public routers (repeatable)")
	fl.BoolVarP(&o.only4, "ipv4", "4", false, "IPv4 only: DHT over IPv4, IPv4 peers printed")
	fl.BoolVarP(&o.only6, "ipv6", "6", false, "IPv6 only: DHT over IPv6, IPv6 peers printed")
	fl.StringVar(&f.stateDir, "state-dir", "", "`directory` of the saved DHT state (default: $XDG_STATE_HOME/peerfind, else the user cache dir + /peerfind)")
	fl.BoolVar(&f.noState, "no-state", false, "neither load nor save the DHT state")
	o.port = discovery.DefaultPort
	fl.Var(portFlag{&o.port}, "port", "the port announced to trackers (1–65535)")
	fl.BoolVar(&o.allowDHTPrivate, "allow-dht-private", false, "use the DHT even for a private torrent (BEP 27 says not to)")
	fl.BoolVar(&o.json, "json", false, "print NDJSON events instead of bare addresses")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "print to stderr, as it happens, what the search does: each tracker request and answer, each DHT lookup and the nodes that gave peers, where the DHT starts from")
	fl.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but the results and errors (no status line, summary or warnings)")
	addVerifyFlags(fl, &o.verify)
	return cmd
}

func runPeers(cmd *cobra.Command, c *cli, arg string, f *peersFlags) error {
	o := f.search
	if o.only4 && o.only6 {
		return usageError("-4 and -6 exclude each other")
	}
	if o.maxPeers < 0 {
		return usageError("--max-peers must not be negative")
	}
	if err := o.verify.check(); err != nil {
		return err
	}
	if o.timeout < 0 {
		return usageError("--timeout must not be negative")
	}
	if f.verbose && o.quiet {
		return usageError("--verbose and --quiet exclude each other")
	}
	if f.verbose {
		o.vlog = newVerboseLog(c.stderr)
	}
	if o.settle <= 0 {
		return usageError("--settle wants a positive duration such as 1.5s, got %v (--wait-all waits for every tracker)", o.settle)
	}
	if f.waitAll {
		o.settle = -1
	}
	for _, u := range f.trackers {
		if err := checkTrackerFlag(u); err != nil {
			return err
		}
	}
	for _, b := range o.bootstrap {
		if err := checkHostPortFlag("bootstrap", b); err != nil {
			return err
		}
	}
	if o.follow && !f.timeoutExplicit {
		o.timeout = -1
	}
	if o.timeout == 0 {
		o.timeout = -1 // --timeout 0: no limit
	}
	tg, err := loadTargetContext(cmd.Context(), arg, c.stdin)
	if err != nil {
		var se *statusError
		if errors.As(err, &se) {
			return err
		}
		return withStatus(exitError, err)
	}
	if tg.mag != nil && !o.quiet {
		for _, w := range tg.mag.Warnings {
			fmt.Fprintf(c.stderr, "peerfind: warning: magnet link: %s\n", w)
		}
	}
	if len(f.trackers) > 0 {
		tg.Trackers = append(tg.Trackers, f.trackers)
	}
	if f.noTrackers {
		tg.Trackers = nil
	}
	if len(tg.Trackers) == 0 && o.noDHT && len(tg.Peers) == 0 {
		return usageError("nothing to search with: no tracker and --no-dht")
	}
	if !f.noState && !o.noDHT {
		dir := f.stateDir
		if dir == "" {
			dir, err = defaultStateDir()
			if err != nil && !o.quiet {
				fmt.Fprintf(c.stderr, "peerfind: warning: no place for the DHT state (%v); starting cold\n", err)
			}
		}
		if dir != "" {
			o.statePath = stateFile(dir)
		}
	}
	sum, shown, err := runSearch(cmd.Context(), c, tg, &o)
	if err != nil {
		return err
	}
	if shown > 0 {
		return nil
	}
	return noPeersError(cmd.Context(), sum)
}

// noPeersError is the exit of a search that printed no peer, which is not
// always a failure: interrupted by a signal, it exits 128 + the signal's
// number; when every source answered and only with errors, 1; otherwise
// the search ran and found nobody (3), whether every source finished or
// the timeout cut some short.
func noPeersError(ctx context.Context, sum *discovery.Summary) error {
	if in := interruptedBy(ctx); in != nil && sum.Reason == discovery.StopCanceled {
		return withStatus(in.status(), fmt.Errorf("no peers found before the search was %v", in))
	}
	if allFailed(sum) {
		if why := offline(sum); why != "" {
			return withStatus(exitError, errors.New("no peers: every source failed: this machine looks offline ("+why+")"))
		}
		return withStatus(exitError, errors.New("no peers: every source failed (see above)"))
	}
	if sum.Reason == discovery.StopTimeout {
		return withStatus(exitNoPeers, fmt.Errorf("no peers found (timed out after %s)", roundDur(sum.Duration)))
	}
	return withStatus(exitNoPeers, errors.New("no peers found"))
}

// offline says why the machine looks offline when every failure of every
// source is a name that did not resolve ("no DNS") or a network that could
// not be reached ("no route"); "" otherwise. It is asked only when every
// source failed.
func offline(sum *discovery.Summary) string {
	dns, route := 0, 0
	for _, s := range sum.Sources {
		switch err := s.Err; {
		case err == nil:
			return ""
		case errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH):
			route++
		case errors.Is(err, tracker.ErrDNS),
			errors.Is(err, dht.ErrNoNodes) && strings.Contains(err.Error(), "bootstrap routers resolved"):
			dns++
		default:
			return ""
		}
	}
	switch {
	case dns+route < 2:
		return "" // one bad name is a typo, not an offline machine
	case dns > 0 && route > 0:
		return "no DNS, no route"
	case dns > 0:
		return "no DNS: no name resolved"
	case route > 0:
		return "no route to any source"
	}
	return ""
}

// policyFlag is --tracker-policy, spelled as tracker.Policy writes itself.
type policyFlag struct{ p *tracker.Policy }

func (f policyFlag) String() string {
	if f.p == nil {
		return tracker.PolicyAll.String()
	}
	return f.p.String()
}
func (f policyFlag) Set(s string) error { return f.p.UnmarshalText([]byte(s)) }
func (f policyFlag) Type() string       { return "all|bep12" }

// allFailed reports whether every source failed: each was asked, answered
// with errors only, and none succeeded even once. A source that had not
// answered when the search ended (interrupted, timed out) has not failed.
func allFailed(sum *discovery.Summary) bool {
	for _, s := range sum.Sources {
		if s.Kind == discovery.KindMagnet || s.Queries == 0 || s.Errors < s.Queries {
			return false
		}
	}
	return true
}
