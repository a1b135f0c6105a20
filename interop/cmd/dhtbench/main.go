// Command dhtbench times whole DHT finders, each as its own process, on an
// emulated Mainline DHT (package dhtemu): this repository's peerfind
// command (cold and warm), libtorrent 2.0 (python3-libtorrent) and
// anacrolix/dht v2. For each finder it reports the time to the first peer,
// to 90% and to all expected peers, the time until the process exits by
// itself, the share of peers found, the queries, bytes and CPU time it
// spent, and its ratios to libtorrent and to the network's ideal bound.
//
//	cd interop && go run ./cmd/dhtbench [-setting dense|sparse|both] [-nodes 10000] [-targets 12] [-seed 1] [-json]
//
// All traffic stays on loopback; every run is bounded by -timeout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/peerfind/peerfind/interop/dhtemu"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(runMain(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	nodes, targets int
	seed           uint64
	settings       []string
	finders        []string
	timeout        time.Duration
	json           bool
	// model knobs; negative means the preset's value
	loss, dead, valuesOnly, medianMS, sigma float64
	perBucket, peers                        int
	holderShare                             float64
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dhtbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var setting, finders string
	fs.IntVar(&o.nodes, "nodes", 10000, "nodes in the emulated network")
	fs.IntVar(&o.targets, "targets", 12, "info hashes searched, one run per finder each")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the network")
	fs.StringVar(&setting, "setting", "both", "table density: dense (about 3 hops), sparse (about 5), both")
	fs.StringVar(&finders, "finders", strings.Join(allFinders, ","), "comma-separated finders: "+strings.Join(allFinders, ", "))
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "each finder's own time limit (peerfind --timeout); the run is killed 10s later")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON after the table")
	fs.Float64Var(&o.loss, "loss", -1, "reply loss share (default: the preset's, 0.03)")
	fs.Float64Var(&o.dead, "dead", -1, "dead node share (default 0.3)")
	fs.Float64Var(&o.valuesOnly, "values-only", -1, "share of holders answering values without nodes (default 0.2)")
	fs.Float64Var(&o.medianMS, "median-rtt-ms", -1, "median RTT in ms (default 80)")
	fs.Float64Var(&o.sigma, "rtt-sigma", -1, "sigma of ln RTT (default 0.98: p90 about 280 ms)")
	fs.IntVar(&o.perBucket, "per-bucket", -1, "table entries per bucket (default: dense 16, sparse 1)")
	fs.IntVar(&o.peers, "peers", -1, "peers per target (default 30)")
	fs.Float64Var(&o.holderShare, "holder-share", -1, "chance that each of the 8 holders stores a given peer (default 0.75; 0.125: most peers on one holder, so a missed holder loses them)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch setting {
	case "both":
		o.settings = []string{"dense", "sparse"}
	case "dense", "sparse":
		o.settings = []string{setting}
	default:
		fmt.Fprintf(stderr, "dhtbench: -setting %q: want dense, sparse or both\n", setting)
		return 2
	}
	for _, f := range strings.Split(finders, ",") {
		if !slices.Contains(allFinders, f) {
			fmt.Fprintf(stderr, "dhtbench: -finders: unknown finder %q (have %s)\n", f, strings.Join(allFinders, ", "))
			return 2
		}
		o.finders = append(o.finders, f)
	}
	if err := bench(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "dhtbench:", err)
		return 1
	}
	return 0
}

func (o options) config(setting string) dhtemu.Config {
	c := dhtemu.Dense(o.nodes)
	if setting == "sparse" {
		c = dhtemu.Sparse(o.nodes)
	}
	c.Seed, c.Targets = o.seed, o.targets
	set := func(dst *float64, v float64) {
		if v >= 0 {
			*dst = v
		}
	}
	set(&c.Loss, o.loss)
	set(&c.Dead, o.dead)
	set(&c.ValuesOnly, o.valuesOnly)
	set(&c.RTTSigma, o.sigma)
	set(&c.HolderShare, o.holderShare)
	if o.medianMS >= 0 {
		c.MedianRTT = time.Duration(o.medianMS * float64(time.Millisecond))
		c.MaxRTT = max(c.MaxRTT, c.MedianRTT)
	}
	if o.perBucket >= 0 {
		c.PerBucket = o.perBucket
	}
	if o.peers >= 0 {
		c.PeersPerTarget = o.peers
	}
	return c
}

func bench(ctx context.Context, o options, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "dhtbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(stderr, "dhtbench: building peerfind and the anacrolix driver")
	t, err := buildTools(ctx, dir)
	if err != nil {
		return err
	}
	var all []settingResult
	for _, s := range o.settings {
		sr, err := benchSetting(ctx, t, o, s, stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		all = append(all, sr)
	}
	writeTable(stdout, o, all)
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(jsonReport(all))
	}
	return nil
}

// settingResult is every run of one setting.
type settingResult struct {
	name   string
	cfg    dhtemu.Config
	ideals []dhtemu.Ideal
	runs   map[string][]result // by finder, one per target
}

func benchSetting(ctx context.Context, t *tools, o options, setting string, stderr io.Writer) (settingResult, error) {
	cfg := o.config(setting)
	sr := settingResult{name: setting, cfg: cfg, runs: map[string][]result{}}
	nw, err := dhtemu.Start(cfg)
	if err != nil {
		return sr, err
	}
	defer nw.Close()
	targets := nw.Targets()
	for i := range targets {
		sr.ideals = append(sr.ideals, nw.Ideal(i))
	}
	limit := o.timeout + 10*time.Second
	warm := ""
	if slices.Contains(o.finders, finderWarm) {
		// The warm state: what peerfind saves after a search for a hash
		// with no peers on the same network.
		warm = fmt.Sprintf("%s/warm-%s", t.dir, setting)
		var other [20]byte
		copy(other[:], "dhtbench warm-up ihx")
		cmd := t.command(ctx, finderWarm, nw, other, 0, warm, o.timeout)
		if _, err := run(cmd, nw, limit, nil, false); err != nil {
			return sr, fmt.Errorf("warm-up run: %w", err)
		}
		if _, err := os.Stat(warm); err != nil {
			return sr, fmt.Errorf("warm-up run saved no state: %w", err)
		}
	}
	runNo := 0
	for i, tg := range targets {
		for _, f := range o.finders {
			if err := ctx.Err(); err != nil {
				return sr, err
			}
			runNo++
			state := fmt.Sprintf("%s/state-%s-%d-%s", t.dir, setting, i, f)
			if f == finderWarm {
				if err := os.CopyFS(state, os.DirFS(warm)); err != nil {
					return sr, err
				}
			}
			cmd := t.command(ctx, f, nw, tg.InfoHash, runNo, state, o.timeout)
			r, err := run(cmd, nw, limit, tg.Peers, false)
			if err != nil {
				return sr, fmt.Errorf("target %d, %s: %w", i, f, err)
			}
			os.RemoveAll(state)
			fmt.Fprintf(stderr, "dhtbench: %s target %d %-14s found %d/%d, exit %v, %d queries\n",
				setting, i, f, r.foundCount(), len(tg.Peers), r.exit.Round(time.Millisecond), r.counts.Total())
			sr.runs[f] = append(sr.runs[f], r)
		}
	}
	return sr, nil
}
