package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// bencher runs the measured commands against one testbed.
type bencher struct {
	o      *options
	bin    string
	dir    string
	tb     *testbed
	warm   string // XDG_STATE_HOME holding a warm DHT state
	stderr io.Writer
	runs   int // numbers each run's own directories
}

// state returns a fresh copy of the warm state directory.
func (b *bencher) state() (string, error) {
	b.runs++
	d := filepath.Join(b.dir, fmt.Sprintf("state-%d", b.runs))
	return d, os.CopyFS(d, os.DirFS(b.warm))
}

// crawl times one `peerfind crawl` round of the first n targets: setting
// is a --concurrency, or "default" for the crawl's own flags (concurrency
// and rate caps).
func (b *bencher) crawl(ctx context.Context, n int, setting string) (run, error) {
	o, tb := b.o, b.tb
	var list bytes.Buffer
	for _, h := range tb.hashes[:n] {
		fmt.Fprintln(&list, h)
	}
	b.runs++
	file := filepath.Join(b.dir, fmt.Sprintf("targets-%d.txt", b.runs))
	if err := os.WriteFile(file, list.Bytes(), 0o644); err != nil {
		return run{}, err
	}
	args := []string{"crawl", file, "--db", filepath.Join(b.dir, fmt.Sprintf("crawl-%d.db", b.runs)), "--json", "--rounds", "1"}
	conc := 16 // the bound below assumes the crawl's default at least
	if setting == "default" {
		setting = "defaults"
	} else {
		conc, _ = strconv.Atoi(setting)
		args = append(args, "--concurrency", setting, "--dht-rate", fmt.Sprint(o.dhtRate), "--tracker-rate", fmt.Sprint(o.trackerRate))
		setting = "--concurrency " + setting
	}
	args = append(args, tb.common...)
	state, err := b.state()
	if err != nil {
		return run{}, err
	}
	fmt.Fprintf(b.stderr, "crawlbench: crawl of %d targets, %s\n", n, setting)
	q0, t0, c0, cpu0 := tb.dhtQueries(), b.trackerReqs(), b.httpConns(), selfCPU()
	p, err := b.proc(ctx, state, time.Duration(n)*o.timeout/time.Duration(conc)+5*time.Minute, args...)
	if err != nil {
		return run{}, err
	}
	if o.dump != "" {
		if err := os.WriteFile(filepath.Join(o.dump, fmt.Sprintf("crawl-%d-%s.ndjson", n, strings.TrimPrefix(setting, "--concurrency "))), p.stdout, 0o644); err != nil {
			return run{}, err
		}
	}
	r := run{Mode: "crawl", Setting: setting, Targets: n, Seconds: p.wall.Seconds(), MaxRSSMB: p.rssMB, CPUSeconds: p.cpu.Seconds()}
	reqs := 0
	scraped := map[string]int{} // scrape source → targets it covered
	var durs []float64
	found, held := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(p.stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			Type       string
			InfoHash   string `json:"info_hash"`
			Peers      int
			DurationMS float64 `json:"duration_ms"`
			Error      string
			Sources    []struct {
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
			found += min(e.Peers, tb.held[e.InfoHash])
			held += tb.held[e.InfoHash]
			durs = append(durs, e.DurationMS)
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
	if len(durs) != n {
		return run{}, fmt.Errorf("crawl of %d targets reported %d", n, len(durs))
	}
	r.TargetsPerSec = float64(n) / r.Seconds
	r.PeersPerSec = float64(r.Peers) / r.Seconds
	r.HTTPConns = b.connsPerTarget(c0, n)
	r.NetCPUSeconds = (selfCPU() - cpu0).Seconds()
	r.Found = float64(found) / float64(max(held, 1))
	r.DHTQueries = float64(tb.dhtQueries()-q0) / float64(n)
	r.Busy = busy(durs, r.Seconds)
	r.P50MS, r.P90MS = quantile(durs, 0.5), quantile(durs, 0.9)
	if tb.trackerReqs != nil {
		r.TrackerReqs = float64(b.trackerReqs()-t0) / float64(n)
	} else {
		for src, k := range scraped {
			// One request carries up to 74 hashes over UDP (BEP 15), 64 over HTTP.
			per := 64
			if strings.HasPrefix(src, "scrape:udp:") {
				per = 74
			}
			reqs += (k + per - 1) / per
		}
		r.TrackerReqs = float64(reqs) / float64(n)
	}
	return r, nil
}

func (b *bencher) httpConns() int64 {
	if b.tb.httpConns == nil {
		return 0
	}
	return b.tb.httpConns()
}

// connsPerTarget returns the HTTP connections per target since c0, or -1 when
// the testbed does not count them.
func (b *bencher) connsPerTarget(c0 int64, n int) float64 {
	if b.tb.httpConns == nil {
		return -1
	}
	return float64(b.httpConns()-c0) / float64(n)
}

func (b *bencher) trackerReqs() int64 {
	if b.tb.trackerReqs == nil {
		return 0
	}
	return b.tb.trackerReqs()
}

// baseline times k `peerfind peers` processes, one per target, parallel at
// a time, sharing one state directory as a script's would.
func (b *bencher) baseline(ctx context.Context, k, parallel int) (run, error) {
	tb := b.tb
	fmt.Fprintf(b.stderr, "crawlbench: %d `peerfind peers` processes, %d at a time\n", k, parallel)
	state, err := b.state()
	if err != nil {
		return run{}, err
	}
	q0, t0, c0, cpu0 := tb.dhtQueries(), b.trackerReqs(), b.httpConns(), selfCPU()
	r := run{Mode: "peers", Setting: fmt.Sprintf("%d at a time", parallel), Targets: k}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	reqs := 0
	var durs []float64
	found, held := 0, 0
	start := time.Now()
	var firstErr error
	for _, h := range tb.hashes[:k] {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p, err := b.proc(ctx, state, 2*b.o.timeout, append([]string{"peers", h, "--json"}, tb.common...)...)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = err
				return
			}
			r.MaxRSSMB = max(r.MaxRSSMB, p.rssMB)
			r.CPUSeconds += p.cpu.Seconds()
			durs = append(durs, float64(p.wall)/float64(time.Millisecond))
			if p.code != 0 {
				r.Failed++
			}
			peers := 0
			sc := bufio.NewScanner(bytes.NewReader(p.stdout))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var e struct{ Type string }
				if json.Unmarshal(sc.Bytes(), &e) != nil {
					continue
				}
				switch e.Type {
				case "peer":
					peers++
				case "tracker":
					reqs++
				}
			}
			r.Peers += peers
			found += min(peers, tb.held[h])
			held += tb.held[h]
		})
	}
	wg.Wait()
	if firstErr != nil {
		return run{}, firstErr
	}
	r.Seconds = time.Since(start).Seconds()
	r.TargetsPerSec = float64(k) / r.Seconds
	r.PeersPerSec = float64(r.Peers) / r.Seconds
	r.HTTPConns = b.connsPerTarget(c0, k)
	r.NetCPUSeconds = (selfCPU() - cpu0).Seconds()
	r.Found = float64(found) / float64(max(held, 1))
	r.DHTQueries = float64(tb.dhtQueries()-q0) / float64(k)
	r.Busy = busy(durs, r.Seconds)
	r.P50MS, r.P90MS = quantile(durs, 0.5), quantile(durs, 0.9)
	if tb.trackerReqs != nil {
		r.TrackerReqs = float64(b.trackerReqs()-t0) / float64(k)
	} else {
		r.TrackerReqs = float64(reqs) / float64(k)
	}
	return r, nil
}

// selfCPU returns the CPU time this process (the network and the
// trackers, mostly) has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// busy returns the mean number of searches under way: the sum of durs
// (ms) over secs.
func busy(durs []float64, secs float64) float64 {
	sum := 0.0
	for _, d := range durs {
		sum += d
	}
	return sum / 1000 / secs
}

// quantile returns the q-quantile of v (nearest rank); v is sorted.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[min(len(v)-1, int(q*float64(len(v))))]
}

// pollHWM returns the largest VmHWM (peak resident set, KiB) of process
// pid seen until done closes. The rusage ru_maxrss is no use here: Go
// starts children with vfork, and Linux carries this benchmark's own
// high-water mark (its network of thousands of targets) into the child's.
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

// proc runs peerfind with XDG_STATE_HOME=state, bounded by limit, and
// returns its output, wall time from process start, CPU time and peak RSS.
func (b *bencher) proc(ctx context.Context, state string, limit time.Duration, args ...string) (*proc, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.bin, args...)
	cmd.Dir = b.dir
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state, "XDG_DATA_HOME="+filepath.Join(b.dir, "data"))
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
	p := &proc{stdout: out.Bytes(), wall: time.Since(t0)}
	close(done)
	p.rssMB = float64(<-peak) / 1024
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
