// Command crawlbench measures `peerfind crawl` against one `peerfind peers`
// process per target, each timed as a whole command from process start,
// on a local network holding the peers of thousands of targets. For each
// run it reports targets and peers per second, the share of the held
// peers found, peak memory (maximum resident set size), CPU, DHT queries
// and tracker requests per target, and the median and p90 of the
// per-target search time; then the crawls' rates as ratios to the
// baselines'.
//
//	cd interop && go run ./cmd/crawlbench [-targets 1000,10000] [-baseline 100] [-parallel 1,16] [-sweep default,16,128] [-json]
//
// The default network (-network emulated) is the world users live in: an
// emulated Mainline DHT (package dhtemu: heavy-tailed round trips, dead
// nodes, loss; -setting sparse or dense) holding the peers of every target,
// and an HTTP and a UDP tracker that answer after a heavy-tailed round
// trip drawn per request. -network loopback is the old setting: a small
// swarm of real peerfind DHT nodes and trackers on loopback, where every
// round trip is about zero and starting a process costs only milliseconds.
//
// The baselines run -baseline targets only (a process per target is slow)
// with each of -parallel processes at a time, sharing a warm DHT state
// directory, as a script looping over `peerfind peers` (or xargs -P) would;
// their rates are per second of that sample. Every process is bounded in
// time; all traffic stays on loopback.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(runMain(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	network, setting string
	nodes            int
	seed             uint64
	trackerShared    int // DHT peers of a target each tracker also holds
	trackerOwn       int // peers of a target each tracker alone holds
	deadTrackers     int // UDP trackers that never answer
	loopNodes        int
	loopPeers        int
	loopDHTTargets   int

	sizes         []int
	baseline      int
	parallel      []int
	concurrency   int
	sweep         []string // crawl settings run at the smallest size: "default" or a --concurrency
	dhtRate       float64
	trackerRate   float64
	timeout       time.Duration
	json          bool
	dump          string // directory for the crawls' NDJSON output
	workers       []int  // worker counts of the queue runs
	workerTargets int
}

// run is one measured run: a crawl, a baseline sample or a worker round.
type run struct {
	Mode          string  `json:"mode"` // "crawl", "peers" or "N worker(s)"
	Setting       string  `json:"setting"`
	Targets       int     `json:"targets"`
	Seconds       float64 `json:"seconds"`
	TargetsPerSec float64 `json:"targets_per_s"`
	Peers         int     `json:"peers"`
	PeersPerSec   float64 `json:"peers_per_s"`
	Found         float64 `json:"found"`      // share of the held peers found
	MaxRSSMB      float64 `json:"max_rss_mb"` // the largest single process
	CPUSeconds    float64 `json:"cpu_s"`
	// NetCPUSeconds is the CPU time the benchmark itself used during the
	// run: the network and trackers answering the run's traffic.
	NetCPUSeconds float64 `json:"network_cpu_s"`
	DHTQueries    float64 `json:"dht_queries_per_target"`
	TrackerReqs   float64 `json:"tracker_requests_per_target"`
	HTTPConns     float64 `json:"http_tracker_connections_per_target"` // -1: not counted
	// Busy is the mean number of searches under way over the run: the
	// sum of the per-target search times over the wall time.
	Busy   float64 `json:"searches_under_way"`
	P50MS  float64 `json:"search_p50_ms"`
	P90MS  float64 `json:"search_p90_ms"`
	Failed int     `json:"failed"`
}

func ints(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-%s %q: want positive numbers", flagName, s)
		}
		out = append(out, n)
	}
	return out, nil
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("crawlbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var sizes, parallel, workers, sweep string
	fs.StringVar(&o.network, "network", "emulated", "emulated (dhtemu DHT, slow trackers) or loopback (swarmtest, no latency)")
	fs.StringVar(&o.setting, "setting", "sparse", "emulated DHT tables: sparse (about 5 hops, like the real DHT) or dense (about 3)")
	fs.IntVar(&o.nodes, "nodes", 10000, "emulated DHT nodes")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the emulated network")
	fs.IntVar(&o.trackerShared, "tracker-shared", 10, "emulated: DHT peers of each target each tracker also holds")
	fs.IntVar(&o.trackerOwn, "tracker-own", 4, "emulated: peers of each target each tracker alone holds")
	fs.IntVar(&o.deadTrackers, "dead-trackers", 0, "emulated: UDP trackers, named for every target, that never answer")
	fs.IntVar(&o.loopNodes, "loop-nodes", 200, "loopback: DHT nodes")
	fs.IntVar(&o.loopPeers, "peers", 8, "loopback: peers per torrent")
	fs.IntVar(&o.loopDHTTargets, "dht-targets", 40, "loopback: torrents whose peers are also on the DHT")
	fs.StringVar(&sizes, "targets", "1000,10000", "comma-separated crawl sizes")
	fs.IntVar(&o.baseline, "baseline", 100, "targets run as one `peerfind peers` process each, per -parallel setting")
	fs.StringVar(&parallel, "parallel", "1,16", "comma-separated baseline processes at a time")
	fs.IntVar(&o.concurrency, "concurrency", 64, "crawl --concurrency of the -targets runs")
	fs.StringVar(&sweep, "sweep", "", "comma-separated crawl settings also run at the smallest size: default (the crawl's own flags) or a --concurrency")
	fs.Float64Var(&o.dhtRate, "dht-rate", -1, "crawl --dht-rate (negative: no cap)")
	fs.Float64Var(&o.trackerRate, "tracker-rate", -1, "crawl --tracker-rate (negative: no cap)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "--timeout of each search")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON after the table")
	fs.StringVar(&o.dump, "dump", "", "write each crawl's NDJSON output into this `directory`")
	fs.StringVar(&workers, "workers", "1,2", "comma-separated counts of `peerfind worker` processes sharing a PostgreSQL queue (empty: none)")
	fs.IntVar(&o.workerTargets, "worker-targets", 1000, "targets of each worker round")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	if o.sizes, err = ints("targets", sizes); err == nil && len(o.sizes) == 0 {
		err = fmt.Errorf("-targets: want one size at least")
	}
	if err == nil {
		o.parallel, err = ints("parallel", parallel)
	}
	if err == nil {
		o.workers, err = ints("workers", workers)
	}
	for _, s := range strings.Split(sweep, ",") {
		if s = strings.TrimSpace(s); s == "" || err != nil {
			continue
		}
		if s != "default" {
			if _, e := ints("sweep", s); e != nil {
				err = fmt.Errorf("-sweep %q: want default or positive numbers", sweep)
				continue
			}
		}
		o.sweep = append(o.sweep, s)
	}
	if err == nil && o.network != "emulated" && o.network != "loopback" {
		err = fmt.Errorf("-network %q: want emulated or loopback", o.network)
	}
	if err == nil && o.setting != "sparse" && o.setting != "dense" {
		err = fmt.Errorf("-setting %q: want sparse or dense", o.setting)
	}
	if err != nil {
		fmt.Fprintf(stderr, "crawlbench: %v\n", err)
		return 2
	}
	desc, runs, err := bench(ctx, &o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "crawlbench: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, desc)
	report(stdout, runs)
	if o.json {
		json.NewEncoder(stdout).Encode(runs)
	}
	return 0
}

func report(w io.Writer, runs []run) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tsetting\ttargets\tseconds\ttargets/s\tpeers/s\tfound\tmax RSS MB\tCPU ms/target\tnetwork CPU ms/target\tDHT queries/target\ttracker requests/target\tHTTP conns/target\tsearch ms p50\tp90\tunder way\tfailed\t")
	for _, r := range runs {
		conns := "" // not counted on the loopback swarm
		if r.HTTPConns >= 0 {
			conns = fmt.Sprintf("%.2f", r.HTTPConns)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.1f\t%.0f\t%.1f%%\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t%.0f\t%.0f\t%.1f\t%d\t\n", r.Mode, r.Setting, r.Targets, r.Seconds,
			r.TargetsPerSec, r.PeersPerSec, 100*r.Found, r.MaxRSSMB, 1000*r.CPUSeconds/float64(r.Targets), 1000*r.NetCPUSeconds/float64(r.Targets), r.DHTQueries, r.TrackerReqs, conns, r.P50MS, r.P90MS, r.Busy, r.Failed)
	}
	tw.Flush()
	for _, c := range runs {
		if c.Mode != "crawl" {
			continue
		}
		var parts []string
		for _, b := range runs {
			if b.Mode == "peers" && b.TargetsPerSec > 0 {
				parts = append(parts, fmt.Sprintf("%.1f× peers %s", c.TargetsPerSec/b.TargetsPerSec, b.Setting))
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(w, "crawl %s, %d targets: %s (targets/s)\n", c.Setting, c.Targets, strings.Join(parts, ", "))
		}
	}
}

func bench(ctx context.Context, o *options, stderr io.Writer) (string, []run, error) {
	dir, err := os.MkdirTemp("", "crawlbench-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "peerfind")
	// The command is built in its own module, whose go.sum covers its
	// dependencies (the interop module's need not).
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/peerfind/peerfind").Output()
	if err != nil {
		return "", nil, fmt.Errorf("finding the peerfind module: %w", err)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/peerfind")
	build.Dir = strings.TrimSpace(string(root))
	if out, err := build.CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("building peerfind: %v\n%s", err, out)
	}
	maxN := o.baseline
	if len(o.workers) > 0 {
		maxN = max(maxN, o.workerTargets)
	}
	for _, n := range o.sizes {
		maxN = max(maxN, n)
	}
	maxN++ // the last one warms the DHT state
	var tb *testbed
	if o.network == "emulated" {
		tb, err = emulatedBed(o, maxN, stderr)
	} else {
		tb, err = loopbackBed(ctx, o, maxN, stderr)
	}
	if err != nil {
		return "", nil, err
	}
	defer tb.close()
	b := &bencher{o: o, bin: bin, dir: dir, tb: tb, stderr: stderr}
	// Every run starts from the same warm DHT state, saved by one search
	// of a target no run searches, as earlier runs of a script would.
	b.warm = filepath.Join(dir, "warm")
	if _, err := b.proc(ctx, b.warm, 2*o.timeout, append([]string{"peers", tb.hashes[len(tb.hashes)-1]}, tb.common...)...); err != nil {
		return "", nil, err
	}
	var runs []run
	for _, n := range o.sizes {
		r, err := b.crawl(ctx, n, strconv.Itoa(o.concurrency))
		if err != nil {
			return "", nil, err
		}
		runs = append(runs, r)
	}
	for _, s := range o.sweep {
		r, err := b.crawl(ctx, o.sizes[0], s)
		if err != nil {
			return "", nil, err
		}
		runs = append(runs, r)
	}
	for _, p := range o.parallel {
		r, err := b.baseline(ctx, o.baseline, p)
		if err != nil {
			return "", nil, err
		}
		runs = append(runs, r)
	}
	if len(o.workers) > 0 {
		wr, err := b.workers(ctx)
		if err != nil {
			return "", nil, err
		}
		runs = append(runs, wr...)
	}
	return tb.describe, runs, nil
}
