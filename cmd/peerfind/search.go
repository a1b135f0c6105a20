package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/tracker"
)

// searchOptions are what `peers` and `demo` share.
type searchOptions struct {
	timeout         time.Duration // negative: none
	settle          time.Duration // discovery.Config.Settle: 0 default, negative: wait for every source
	maxPeers        int
	follow          bool
	noDHT           bool
	trackerPolicy   tracker.Policy
	allowDHTPrivate bool
	bootstrap       []string
	only4, only6    bool
	port            uint16
	json            bool
	statePath       string // "" → neither load nor save
	quietPeers      bool   // print no peer lines (the demo prints its own table)
	noSummary       bool   // leave the human summary to the caller
	stopTimeout     time.Duration
	vlog            *verboseLog   // -v: what the search does, as it happens; nil: silent
	quiet           bool          // --quiet: results and errors only (no status line, summary or warnings)
	dhtQueryRate    float64       // dht.Config.QueryRate; 0: the node's default
	dhtMaxPending   int           // dht.Config.MaxPending; 0: the node's default
	verify          verifyOptions // --verify and its flags (verify.go)
}

// defaultStateDir is where the DHT state lives unless --state-dir says
// otherwise: $XDG_STATE_HOME/peerfind if set, else the user cache dir.
func defaultStateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "peerfind"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "peerfind"), nil
}

func stateFile(dir string) string { return filepath.Join(dir, "dht.state") }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// runSearch runs one search of tg and reports it on c's streams: peers (or
// NDJSON events) on stdout, status and summary on stderr. It returns the
// summary and the number of peers shown.
func runSearch(ctx context.Context, c *cli, tg *target, o *searchOptions) (*discovery.Summary, int, error) {
	// A reader that goes away (`peerfind peers x | head -5`) is an ordinary
	// end of the search, not a crash: with SIGPIPE caught, writes return
	// EPIPE and the search stops cleanly — trackers told, state saved.
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, syscall.SIGPIPE)
	defer signal.Stop(pipe)
	tc := &tracker.Client{}
	defer tc.Close()
	cfg := &discovery.Config{
		Timeout:         o.timeout,
		Settle:          o.settle,
		MaxPeers:        o.maxPeers,
		Follow:          o.follow,
		AllowDHTPrivate: o.allowDHTPrivate,
		Port:            o.port,
		StopTimeout:     o.stopTimeout,
		TrackerPolicy:   o.trackerPolicy,
	}
	if o.follow {
		cfg.RetryInterval = followRetry
	}
	if len(tg.Trackers) > 0 {
		cfg.Trackers = tc
		if o.vlog != nil {
			cfg.Trackers = tracingAnnouncer{tc, o.vlog}
		}
	}
	cfg.Verify = o.verify.config(tg)
	var node *dht.Node
	if !o.noDHT && tg.DHTAllowed(o.allowDHTPrivate) { // no node at all when discovery would not use it
		var err error
		node, err = newDHTNode(c.stderr, o)
		var se *statusError
		switch {
		case errors.As(err, &se):
			return nil, 0, err
		case err != nil:
			return nil, 0, withStatus(exitError, err)
		}
		cfg.DHT = discovery.NewDHTSource(node)
		if o.vlog != nil {
			cfg.DHT = tracingLookup{cfg.DHT, o.vlog}
		}
	}
	defer func() {
		if node != nil {
			node.Close()
		}
	}()

	p := &printer{out: c.stdout, json: o.json, only4: o.only4, only6: o.only6, noDHT: o.noDHT, verify: cfg.Verify != nil, table: o.verify.table}
	prog := &progress{trackersTotal: countTrackers(tg.Trackers), trackersDone: map[string]bool{}}
	if node != nil {
		prog.node = node
	}
	var status *statusLine
	start := time.Now()
	if isTerminal(c.stderr) && o.vlog == nil && !o.quiet {
		status = newStatusLine(c.stderr, prog, start)
		if isTerminal(c.stdout) {
			p.out = status // one terminal: peers scroll above the status line
		}
	}
	var stopErr error
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	find := func(ctx context.Context, _ *target, cfg *discovery.Config, fn func(discovery.Event)) (*discovery.Summary, error) {
		return discovery.Find(ctx, tg.Target, cfg, fn)
	}
	if o.verify.find != nil {
		find = o.verify.find // `metadata`: the search fetches the metadata
	}
	sum, err := find(sctx, tg, cfg, func(e discovery.Event) {
		if pe, ok := e.(*discovery.PeerEvent); !o.quietPeers || !ok {
			p.event(e)
		} else if pe.New && p.want(pe.Peer) {
			p.shown++
		}
		prog.event(e, p.shown)
		if o.follow && !o.quiet && status == nil {
			retryLine(c.stderr, e)
		}
		if p.werr != nil && stopErr == nil {
			// Standard output is gone (a closed pipe, as with `| head`):
			// nobody reads the rest.
			stopErr = p.werr
			cancel()
		}
	})
	if status != nil {
		status.stop()
	}
	if err != nil {
		if errors.Is(err, discovery.ErrNoSources) && tg.Private && !o.allowDHTPrivate {
			return nil, 0, withStatus(exitError, errors.New("nothing to search: this is a private torrent (BEP 27) with no tracker left to ask, "+
				"and a private torrent's peers come from its trackers only. Add the tracker of the site it came from "+
				"with --tracker URL, or search the DHT anyway with --allow-dht-private (BEP 27 asks clients not to)"))
		}
		if errors.Is(err, discovery.ErrNoSources) {
			return nil, 0, withStatus(exitError, fmt.Errorf("nothing to search: %w", err))
		}
		return nil, 0, withStatus(exitError, err)
	}
	if node != nil && o.statePath != "" {
		if err := saveState(o.statePath, node); err != nil && !o.quiet {
			fmt.Fprintf(c.stderr, "peerfind: warning: DHT state not saved: %v\n", err)
		}
	}
	if o.only4 || o.only6 {
		sum = familySummary(sum, p.want)
	}
	p.summary(sum)
	if stopErr != nil && !errors.Is(stopErr, syscall.EPIPE) {
		return sum, p.shown, withStatus(exitError, fmt.Errorf("writing the results: %w", stopErr))
	}
	if !o.noSummary && !o.quiet {
		writeSummary(c.stderr, sum, p.shown, o.follow)
	}
	return sum, p.shown, nil
}

// followRetry is the first pause before a failed tracker is asked again
// with --follow (then doubling, up to its interval): soon enough that a
// network coming back is noticed within seconds, not the 2 minutes a
// long-running client waits.
const followRetry = 5 * time.Second

// retryLine says, with --follow and no terminal for the status line, that a
// source failed and when it is tried again: a following search is never
// silent about sources that do not work.
func retryLine(w io.Writer, e discovery.Event) {
	switch e := e.(type) {
	case *discovery.TrackerEvent:
		if e.Err != nil && e.Event != tracker.EventStopped && e.Next > 0 {
			fmt.Fprintf(w, "peerfind: %s: %s; retrying in %s\n", e.URL, plainError(e.Err), roundDur(e.Next))
		}
	case *discovery.DHTEvent:
		if e.Err != nil && e.Next > 0 {
			fmt.Fprintf(w, "peerfind: dht: %s; retrying in %s\n", plainError(e.Err), roundDur(e.Next))
		}
	}
}

// countTrackers counts the trackers the search asks: each once, however
// often and in whatever spelling the tiers repeat it.
func countTrackers(tiers [][]string) int {
	n := 0
	for _, t := range tracker.DedupeTiers(tiers) {
		n += len(t)
	}
	return n
}

// newDHTNode opens the DHT sockets and starts a read-only node (BEP 43: a
// run of a few seconds must not be put in other nodes' tables), warm from
// the saved state if there is one.
func newDHTNode(stderr io.Writer, o *searchOptions) (*dht.Node, error) {
	cfg := dht.Config{ReadOnly: true, QueryRate: o.dhtQueryRate, MaxPending: o.dhtMaxPending}
	if o.vlog != nil {
		cfg.Trace = o.vlog.dhtQuery
	}
	if o.statePath != "" {
		st, err := dht.LoadState(o.statePath)
		switch {
		case err == nil:
			cfg.State = st
			o.vlog.printf("DHT: starting warm from the saved state %s: %s", o.statePath, plural(len(st.Nodes), "node"))
		case errors.Is(err, fs.ErrNotExist):
			o.vlog.printf("DHT: no saved state at %s: starting cold", o.statePath)
		default:
			fmt.Fprintf(stderr, "peerfind: warning: ignoring the DHT state: %v\n", err)
		}
	}
	if len(o.bootstrap) > 0 {
		cfg.BootstrapRouters = []string{} // the user's nodes replace the public routers
		for _, b := range o.bootstrap {
			if ap, err := netip.ParseAddrPort(b); err == nil {
				cfg.BootstrapNodes = append(cfg.BootstrapNodes, ap)
				continue
			}
			if _, _, err := net.SplitHostPort(b); err != nil {
				return nil, usageError("--bootstrap %q: want host:port", b)
			}
			cfg.BootstrapRouters = append(cfg.BootstrapRouters, b)
		}
		o.vlog.printf("DHT: bootstrap from --bootstrap only: %s", strings.Join(o.bootstrap, ", "))
	} else {
		o.vlog.printf("DHT: bootstrap routers, if the saved and given nodes are not enough: %s", strings.Join(dht.DefaultRouters, ", "))
	}
	var errs []error
	if !o.only6 {
		c4, err := net.ListenPacket("udp4", ":0")
		if err != nil {
			errs = append(errs, err)
		} else {
			cfg.Conn4 = c4
		}
	}
	if !o.only4 {
		c6, err := net.ListenPacket("udp6", "[::]:0")
		if err != nil {
			errs = append(errs, err)
		} else {
			cfg.Conn6 = c6
		}
	}
	if cfg.Conn4 == nil && cfg.Conn6 == nil {
		return nil, fmt.Errorf("DHT: no socket: %w", errors.Join(errs...))
	}
	n, err := dht.New(cfg)
	if err != nil {
		if cfg.Conn4 != nil {
			cfg.Conn4.Close()
		}
		if cfg.Conn6 != nil {
			cfg.Conn6.Close()
		}
		return nil, fmt.Errorf("DHT: %w", err)
	}
	return n, nil
}

func saveState(path string, n *dht.Node) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return dht.SaveState(path, n.State())
}
