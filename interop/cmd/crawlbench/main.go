// Command crawlbench measures `peerfind crawl` against one `peerfind peers`
// process per target, on a local swarm (package swarmtest) holding many
// torrents on one HTTP tracker, one UDP tracker and a DHT of real nodes,
// all on loopback. For each size it reports targets and peers per second,
// the crawl's peak memory (maximum resident set size), and the DHT queries
// and tracker requests spent per target.
//
//	cd interop && go run ./cmd/crawlbench [-targets 1000,10000] [-baseline 100] [-json]
//
// The baseline runs -baseline targets only (a process per target is slow)
// with -parallel processes at a time, sharing a warm DHT state directory, as
// a script looping over `peerfind peers` would; its rates are per second
// of that sample. Every process is bounded by -timeout.
package main

import (
	"bufio"
	"bytes"
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
	"sync"
	"text/tabwriter"
	"time"

	"github.com/peerfind/peerfind/swarmtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(runMain(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	sizes              []int
	peers, dhtTargets  int
	nodes              int
	baseline, parallel int
	concurrency        int
	timeout            time.Duration
	json               bool
	workers            []int // worker counts of the queue runs
	workerTargets      int
}

// run is one measured run: a crawl of N targets or the baseline sample.
type run struct {
	Mode          string  `json:"mode"` // "crawl", "peers" or "N worker(s)"
	Targets       int     `json:"targets"`
	Seconds       float64 `json:"seconds"`
	TargetsPerSec float64 `json:"targets_per_s"`
	Peers         int     `json:"peers"`
	PeersPerSec   float64 `json:"peers_per_s"`
	MaxRSSMB      float64 `json:"max_rss_mb"` // the largest single process
	CPUSeconds    float64 `json:"cpu_s"`
	DHTQueries    float64 `json:"dht_queries_per_target"`
	TrackerReqs   float64 `json:"tracker_requests_per_target"`
	Failed        int     `json:"failed"`
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("crawlbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var sizes string
	fs.StringVar(&sizes, "targets", "1000,10000", "comma-separated crawl sizes")
	fs.IntVar(&o.peers, "peers", 8, "peers per torrent")
	fs.IntVar(&o.dhtTargets, "dht-targets", 40, "torrents whose peers are also on the DHT")
	fs.IntVar(&o.nodes, "nodes", 200, "DHT nodes")
	fs.IntVar(&o.baseline, "baseline", 100, "targets run as one `peerfind peers` process each")
	fs.IntVar(&o.parallel, "parallel", 16, "baseline processes at a time")
	fs.IntVar(&o.concurrency, "concurrency", 64, "crawl --concurrency")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "--timeout of each search")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON after the table")
	var workers string
	fs.StringVar(&workers, "workers", "1,2", "comma-separated counts of `peerfind worker` processes sharing a PostgreSQL queue (empty: none)")
	fs.IntVar(&o.workerTargets, "worker-targets", 1000, "targets of each worker round")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	for _, s := range strings.Split(workers, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "crawlbench: -workers %q: want positive numbers\n", workers)
			return 2
		}
		o.workers = append(o.workers, n)
	}
	maxN := 0
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "crawlbench: -targets %q: want positive numbers\n", sizes)
			return 2
		}
		o.sizes = append(o.sizes, n)
		maxN = max(maxN, n)
	}
	runs, err := bench(ctx, &o, maxN, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "crawlbench: %v\n", err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\ttargets\tseconds\ttargets/s\tpeers/s\tmax RSS MB\tCPU s\tDHT queries/target\ttracker requests/target\tfailed\t")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.0f\t%.0f\t%.1f\t%.1f\t%.1f\t%d\t\n", r.Mode, r.Targets, r.Seconds, r.TargetsPerSec, r.PeersPerSec, r.MaxRSSMB, r.CPUSeconds, r.DHTQueries, r.TrackerReqs, r.Failed)
	}
	tw.Flush()
	if o.json {
		json.NewEncoder(stdout).Encode(runs)
	}
	return 0
}

func bench(ctx context.Context, o *options, maxN int, stderr io.Writer) ([]run, error) {
	dir, err := os.MkdirTemp("", "crawlbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "peerfind")
	// The command is built in its own module, whose go.sum covers its
	// dependencies (the interop module's need not).
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/peerfind/peerfind").Output()
	if err != nil {
		return nil, fmt.Errorf("finding the peerfind module: %w", err)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/peerfind")
	build.Dir = strings.TrimSpace(string(root))
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building peerfind: %v\n%s", err, out)
	}
	fmt.Fprintf(stderr, "crawlbench: starting a swarm of %d DHT nodes and %d torrents\n", o.nodes, maxN)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	sw, err := swarmtest.Start(sctx, swarmtest.Config{Nodes: o.nodes, Peers: 4})
	if err != nil {
		return nil, err
	}
	defer sw.Close()
	torrents, err := sw.AddTorrents(sctx, swarmtest.TorrentsConfig{N: maxN, Peers: o.peers, DHT: o.dhtTargets})
	if err != nil {
		return nil, err
	}
	common := []string{"--tracker", sw.HTTPTracker, "--tracker", sw.UDPTracker, "--timeout", o.timeout.String()}
	for _, b := range sw.Bootstrap {
		common = append(common, "--bootstrap", b.String())
	}
	queriesIn := func() uint64 {
		var n uint64
		for _, nd := range sw.Nodes {
			n += nd.Stats().QueriesIn
		}
		return n
	}
	var runs []run
	for _, n := range o.sizes {
		var list bytes.Buffer
		for _, t := range torrents[:n] {
			fmt.Fprintln(&list, t.InfoHash)
		}
		file := filepath.Join(dir, fmt.Sprintf("targets-%d.txt", n))
		if err := os.WriteFile(file, list.Bytes(), 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(stderr, "crawlbench: crawl of %d targets\n", n)
		q0 := queriesIn()
		args := append([]string{"crawl", file, "--db", filepath.Join(dir, fmt.Sprintf("crawl-%d.db", n)), "--json", "--rounds", "1",
			"--tracker-rate", "-1", "--dht-rate", "-1", "--concurrency", strconv.Itoa(o.concurrency)}, common...)
		p, err := runProc(ctx, bin, dir, time.Duration(n)*o.timeout/time.Duration(o.concurrency)+5*time.Minute, args...)
		if err != nil {
			return nil, err
		}
		r := run{Mode: "crawl", Targets: n, Seconds: p.wall.Seconds(), MaxRSSMB: p.rssMB, CPUSeconds: p.cpu.Seconds()}
		reqs := 0
		scraped := map[string]int{} // scrape source → targets it covered
		sc := bufio.NewScanner(bytes.NewReader(p.stdout))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e struct {
				Type    string
				Peers   int
				Error   string
				Sources []struct {
					Source  string
					Kind    string
					Queries int
					Errors  int
				}
			}
			if json.Unmarshal(sc.Bytes(), &e) != nil || e.Type != "target" && e.Type != "scrape" {
				continue
			}
			if e.Type == "target" {
				r.Peers += e.Peers
				if e.Error != "" {
					r.Failed++
				}
			}
			for _, s := range e.Sources {
				switch s.Kind {
				case "tracker":
					reqs += 2*s.Queries - s.Errors // started, and stopped for each accepted
				case "scrape":
					scraped[s.Source]++
				}
			}
		}
		r.TargetsPerSec = float64(n) / r.Seconds
		r.PeersPerSec = float64(r.Peers) / r.Seconds
		r.DHTQueries = float64(queriesIn()-q0) / float64(n)
		for src, k := range scraped {
			// One request carries up to 74 hashes over UDP (BEP 15), 64 over HTTP.
			per := 64
			if strings.HasPrefix(src, "scrape:udp:") {
				per = 74
			}
			reqs += (k + per - 1) / per
		}
		r.TrackerReqs = float64(reqs) / float64(n)
		runs = append(runs, r)
	}

	k := min(o.baseline, maxN)
	if k > 0 {
		fmt.Fprintf(stderr, "crawlbench: %d `peerfind peers` processes, %d at a time\n", k, o.parallel)
		state := filepath.Join(dir, "state")
		// Warm the state directory first, as a script's earlier runs would.
		if _, err := runProcEnv(ctx, bin, dir, state, 2*o.timeout, append([]string{"peers", torrents[0].InfoHash.String()}, common...)...); err != nil {
			return nil, err
		}
		q0 := queriesIn()
		r := run{Mode: "peers", Targets: k}
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, o.parallel)
		reqs := 0
		t0 := time.Now()
		var firstErr error
		for _, t := range torrents[:k] {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				p, err := runProcEnv(ctx, bin, dir, state, 2*o.timeout, append([]string{"peers", t.InfoHash.String(), "--json"}, common...)...)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					firstErr = err
					return
				}
				r.MaxRSSMB = max(r.MaxRSSMB, p.rssMB)
				r.CPUSeconds += p.cpu.Seconds()
				if p.code != 0 {
					r.Failed++
				}
				sc := bufio.NewScanner(bytes.NewReader(p.stdout))
				sc.Buffer(nil, 1<<20)
				for sc.Scan() {
					var e struct {
						Type  string
						Event string
					}
					if json.Unmarshal(sc.Bytes(), &e) != nil {
						continue
					}
					switch e.Type {
					case "peer":
						r.Peers++
					case "tracker":
						reqs++
					}
				}
			})
		}
		wg.Wait()
		if firstErr != nil {
			return nil, firstErr
		}
		r.Seconds = time.Since(t0).Seconds()
		r.TargetsPerSec = float64(k) / r.Seconds
		r.PeersPerSec = float64(r.Peers) / r.Seconds
		r.DHTQueries = float64(queriesIn()-q0) / float64(k)
		r.TrackerReqs = float64(reqs) / float64(k)
		runs = append(runs, r)
	}
	if len(o.workers) > 0 {
		wr, err := benchWorkers(ctx, o, bin, dir, sw, torrents, common, stderr)
		if err != nil {
			return nil, err
		}
		runs = append(runs, wr...)
	}
	return runs, nil
}

// pollHWM returns the largest VmHWM (peak resident set, KiB) of process
// pid seen until done closes. The rusage ru_maxrss is no use here: Go
// starts children with vfork, and Linux carries this benchmark's own
// high-water mark (its swarm of thousands of torrents) into the child's.
func pollHWM(pid int, done <-chan struct{}) int64 {
	status := fmt.Sprintf("/proc/%d/status", pid)
	var kib int64
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(status); err == nil {
			for l := range strings.Lines(string(b)) {
				if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
					n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
					kib = max(kib, n)
				}
			}
		}
		select {
		case <-done:
			return kib
		case <-tick.C:
		}
	}
}

type proc struct {
	stdout []byte
	code   int
	wall   time.Duration
	cpu    time.Duration
	rssMB  float64
}

func runProc(ctx context.Context, bin, dir string, limit time.Duration, args ...string) (*proc, error) {
	return runProcEnv(ctx, bin, dir, filepath.Join(dir, "crawlstate"), limit, args...)
}

// runProcEnv runs peerfind with XDG_STATE_HOME=state, bounded by limit,
// and returns its output, wall and CPU time and peak RSS.
func runProcEnv(ctx context.Context, bin, dir, state string, limit time.Duration, args ...string) (*proc, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state, "XDG_DATA_HOME="+filepath.Join(dir, "data"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("peerfind %s: %v", args[0], err)
	}
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() { peak <- pollHWM(cmd.Process.Pid, done) }()
	err := cmd.Wait()
	close(done)
	p := &proc{stdout: out.Bytes(), wall: time.Since(t0), rssMB: float64(<-peak) / 1024}
	if cmd.ProcessState == nil {
		return nil, fmt.Errorf("peerfind %s: %v", args[0], err)
	}
	p.code = cmd.ProcessState.ExitCode()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("peerfind %s: killed after %s:\n%s", args[0], limit, errb.String())
	}
	if p.code != 0 && p.code != 3 {
		return nil, fmt.Errorf("peerfind %s: exit %d:\n%s", args[0], p.code, errb.String())
	}
	p.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return p, nil
}
