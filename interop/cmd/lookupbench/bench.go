package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/peerfind/peerfind/interop/internal/thirdparty"
)

// sample is one lookup's measurements.
type sample struct {
	queries     int
	first, all  time.Duration // zero if none / not all
	end         time.Duration
	found, want int
}

// totals accumulates the samples of one implementation.
type totals struct {
	n, queries, errs  int
	firsts, alls, end []time.Duration
	found, want       int
}

func (t *totals) add(s sample, err error) {
	t.n++
	if err != nil {
		t.errs++
	}
	t.queries += s.queries
	t.found += s.found
	t.want += s.want
	t.end = append(t.end, s.end)
	if s.first > 0 {
		t.firsts = append(t.firsts, s.first)
	}
	if s.all > 0 {
		t.alls = append(t.alls, s.all)
	}
}

// result is what a run measured.
type result struct {
	o          options
	nAna, nOur int
	setup      time.Duration
	elapsed    time.Duration
	stopped    error // why the run ended early; nil if every lookup ran
	ours, ana  totals
}

// bench builds the network and runs the lookups until o.lookups are done or
// ctx ends; a lookup cut short by ctx is not counted.
func bench(ctx context.Context, o options) (*result, error) {
	nw := &network{
		o:    o,
		rng:  rand.New(rand.NewPCG(o.seed, 0x6c6f6f6b757062)),
		wrap: thirdparty.WithDelay(o.rtt/2, o.rtt/2),
	}
	defer nw.close()
	start := time.Now()
	if err := build(ctx, nw); err != nil {
		return nil, fmt.Errorf("building the network: %w", err)
	}
	res := &result{o: o, nAna: len(nw.ana), nOur: len(nw.ours), setup: time.Since(start)}
	start = time.Now()
	defer func() { res.elapsed = time.Since(start) }()
	for i := range o.lookups {
		if ctx.Err() != nil {
			res.stopped = ctx.Err()
			break
		}
		// The searchers' ids start with a 0 bit and the hash with a 1: the
		// hash is as far from both as a random target is on average, and
		// neither searcher is among the nodes that hold its peers.
		id, ih := nw.randomID(), nw.randomID()
		id[0] &^= 0x80
		ih[0] |= 0x80
		want, err := place(ctx, nw, ih)
		if err != nil {
			if ctx.Err() != nil {
				res.stopped = ctx.Err()
				break
			}
			return nil, fmt.Errorf("lookup %d: %w", i+1, err)
		}
		on, a, err := searchers(ctx, nw, id)
		if err != nil {
			if ctx.Err() != nil {
				res.stopped = ctx.Err()
				break
			}
			return nil, fmt.Errorf("lookup %d: %w", i+1, err)
		}
		var so, sa sample
		var errO, errA error
		runOurs := func() {
			lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			so, errO = lookupOurs(lctx, on, ih, want)
		}
		runAna := func() {
			lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			sa, errA = lookupAna(lctx, a, ih, want)
		}
		// Alternate the order: the second lookup meets nodes the first one
		// just woke (caches, rate limiters).
		if i%2 == 0 {
			runOurs()
			runAna()
		} else {
			runAna()
			runOurs()
		}
		on.n.Close()
		a.Close()
		if ctx.Err() != nil {
			res.stopped = ctx.Err()
			break
		}
		// A lookup that ended in error (no node answered, its own 30 s
		// bound) still counts: it found what it found.
		res.ours.add(so, errO)
		res.ana.add(sa, errA)
	}
	return res, nil
}

// percentile returns the p-th percentile (nearest rank) of ds in
// milliseconds, NaN if ds is empty.
func percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return math.NaN()
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return float64(s[min(max(i, 0), len(s)-1)]) / float64(time.Millisecond)
}

// columns are the table's numeric columns, in order.
var columns = []string{"lookups", "queries/lookup", "first_p50_ms", "first_p90_ms", "all_p50_ms", "all_p90_ms", "found_pct", "end_p50_ms"}

// row returns t's values for columns.
func (t *totals) row() []float64 {
	return []float64{
		float64(t.n),
		float64(t.queries) / float64(max(t.n, 1)),
		percentile(t.firsts, 50), percentile(t.firsts, 90),
		percentile(t.alls, 50), percentile(t.alls, 90),
		100 * float64(t.found) / float64(max(t.want, 1)),
		percentile(t.end, 50),
	}
}

// format prints v with one decimal, "-" for NaN (nothing to measure).
func format(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// print writes the report: two comment lines, then the table with a row for
// each implementation and one of ratios peerfind/anacrolix.
func (r *result) print(w io.Writer) error {
	o := r.o
	fmt.Fprintf(w, "# lookupbench -kind %s -nodes %d (%d anacrolix/dht v2.23.0, %d peerfind) -rtt %v -peers %d -rounds %d -seed %d\n",
		o.kind, o.nodes, r.nAna, r.nOur, o.rtt, o.peers, o.rounds, o.seed)
	status := "all done"
	if r.stopped != nil {
		status = fmt.Sprintf("stopped early: %v", r.stopped)
	}
	fmt.Fprintf(w, "# setup %.1fs; %d of %d lookups in %.1fs (%s); lookups ended by an error: peerfind %d, anacrolix %d\n",
		r.setup.Seconds(), r.ours.n, o.lookups, r.elapsed.Seconds(), status, r.ours.errs, r.ana.errs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "impl\t")
	for _, c := range columns {
		fmt.Fprintf(tw, "%s\t", c)
	}
	fmt.Fprintln(tw)
	ours, ana := r.ours.row(), r.ana.row()
	for _, row := range []struct {
		name string
		v    []float64
	}{{"peerfind", ours}, {"anacrolix", ana}} {
		fmt.Fprintf(tw, "%s\t", row.name)
		fmt.Fprintf(tw, "%d\t", int(row.v[0]))
		for _, v := range row.v[1:] {
			fmt.Fprintf(tw, "%s\t", format(v))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprint(tw, "ratio\t-\t")
	for i := 1; i < len(columns); i++ {
		v := math.NaN()
		if ana[i] != 0 {
			v = ours[i] / ana[i]
		}
		s := "-"
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			s = strconv.FormatFloat(v, 'f', 2, 64)
		}
		fmt.Fprintf(tw, "%s\t", s)
	}
	fmt.Fprintln(tw)
	return tw.Flush()
}
