package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/peerfind/peerfind/interop/dhtemu"
)

// never stands for a time not reached (a peer share never found).
const never = time.Duration(math.MaxInt64)

func (r result) foundCount() int {
	n := 0
	for _, p := range r.expected {
		if _, ok := r.found[p]; ok {
			n++
		}
	}
	return n
}

// reach returns when the run had printed share of the expected peers.
func (r result) reach(share float64) time.Duration {
	want := max(1, int(math.Ceil(share*float64(len(r.expected)))))
	var ts []time.Duration
	for _, p := range r.expected {
		if t, ok := r.found[p]; ok {
			ts = append(ts, t)
		}
	}
	if len(ts) < want {
		return never
	}
	slices.Sort(ts)
	return ts[want-1]
}

// metrics are one run's numbers, as the table and JSON show them.
type metrics struct {
	First, P90, All, Exit time.Duration
	Found                 float64 // share of the expected peers
	Queries, Dead         int64
	Bytes                 int64
	CPU                   time.Duration
}

func (r result) metrics() metrics {
	exit := r.exit
	if r.killed {
		exit = never
	}
	return metrics{
		First: r.reach(0), P90: r.reach(0.9), All: r.reach(1), Exit: exit,
		Found:   float64(r.foundCount()) / float64(max(1, len(r.expected))),
		Queries: r.counts.Total(), Dead: r.counts.DeadQueries,
		Bytes: r.counts.BytesIn + r.counts.BytesOut, CPU: r.cpu,
	}
}

// quantile is the nearest-rank q-quantile of xs (never sorts last).
func quantile[T int64 | float64 | time.Duration](xs []T, q float64) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := max(0, int(math.Ceil(q*float64(len(s))))-1)
	return s[i]
}

func column[T any](ms []metrics, f func(metrics) T) []T {
	out := make([]T, len(ms))
	for i, m := range ms {
		out[i] = f(m)
	}
	return out
}

func ms(d time.Duration) string {
	if d == never {
		return "—"
	}
	return fmt.Sprintf("%d", d.Milliseconds())
}

func ratio(a, b time.Duration) string {
	if a == never || b == never || b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

// summary is one finder's medians and p90s in one setting.
type summary struct {
	Finder                         string
	First, P90, All, Exit          [2]time.Duration // p50, p90
	Gap                            [2]time.Duration // exit after the last peer, p50 and p90
	Found                          float64          // mean share
	Queries                        [2]int64         // p50, p90
	Dead, Bytes                    int64            // medians
	CPU                            time.Duration    // median
	AllVsLibtorrent, AllVsIdeal    string
	FirstVsLibtorrent, ExitVsIdeal string
}

func summarize(name string, ms []metrics) summary {
	q := func(f func(metrics) time.Duration) [2]time.Duration {
		c := column(ms, f)
		return [2]time.Duration{quantile(c, 0.5), quantile(c, 0.9)}
	}
	found := 0.0
	for _, m := range ms {
		found += m.Found
	}
	return summary{
		Finder: name,
		First:  q(func(m metrics) time.Duration { return m.First }),
		P90:    q(func(m metrics) time.Duration { return m.P90 }),
		All:    q(func(m metrics) time.Duration { return m.All }),
		Exit:   q(func(m metrics) time.Duration { return m.Exit }),
		Gap: q(func(m metrics) time.Duration {
			if m.Exit == never || m.All == never {
				return never
			}
			return m.Exit - m.All
		}),
		Found: found / float64(len(ms)),
		Queries: [2]int64{quantile(column(ms, func(m metrics) int64 { return m.Queries }), 0.5),
			quantile(column(ms, func(m metrics) int64 { return m.Queries }), 0.9)},
		Dead:  quantile(column(ms, func(m metrics) int64 { return m.Dead }), 0.5),
		Bytes: quantile(column(ms, func(m metrics) int64 { return m.Bytes }), 0.5),
		CPU:   quantile(column(ms, func(m metrics) time.Duration { return m.CPU }), 0.5),
	}
}

func idealMetrics(ids []dhtemu.Ideal) []metrics {
	out := make([]metrics, len(ids))
	for i, id := range ids {
		out[i] = metrics{First: id.First, P90: id.P90, All: id.All, Exit: id.All, Found: 1}
		if id.Peers == 0 {
			out[i] = metrics{First: never, P90: never, All: never, Exit: never}
		}
	}
	return out
}

// summaries returns the ideal's and each finder's summary, with ratios.
func (sr settingResult) summaries(finders []string) []summary {
	ideal := summarize("ideal", idealMetrics(sr.ideals))
	out := []summary{ideal}
	var lt *summary
	for _, f := range finders {
		var ms []metrics
		for _, r := range sr.runs[f] {
			ms = append(ms, r.metrics())
		}
		if len(ms) == 0 {
			continue
		}
		out = append(out, summarize(f, ms))
		if f == finderLibtorrent {
			lt = &out[len(out)-1]
		}
	}
	for i := range out {
		s := &out[i]
		s.AllVsIdeal = ratio(s.All[0], ideal.All[0])
		s.ExitVsIdeal = ratio(s.Exit[0], ideal.All[0])
		if lt != nil {
			s.AllVsLibtorrent = ratio(s.All[0], lt.All[0])
			s.FirstVsLibtorrent = ratio(s.First[0], lt.First[0])
		} else {
			s.AllVsLibtorrent, s.FirstVsLibtorrent = "—", "—"
		}
	}
	return out
}

func hops(ids []dhtemu.Ideal) (first, all float64) {
	for _, id := range ids {
		first += float64(id.HopsFirst)
		all += float64(id.HopsAll)
	}
	n := float64(max(1, len(ids)))
	return first / n, all / n
}

func writeTable(w io.Writer, o options, all []settingResult) {
	for _, sr := range all {
		c := sr.cfg
		hf, ha := hops(sr.ideals)
		fmt.Fprintf(w, "\n### %s: %d nodes, %d per bucket, %d targets × %d peers, seed %d\n\n", sr.name, c.Nodes, c.PerBucket, c.Targets, c.PeersPerTarget, c.Seed)
		fmt.Fprintf(w, "RTT median %v, sigma %.2f, cap %v; loss %.0f%%, dead %.0f%%, values-only %.0f%%. Ideal hops (mean): first peer %.1f, all peers %.1f.\n\n",
			c.MedianRTT, c.RTTSigma, c.MaxRTT, 100*c.Loss, 100*c.Dead, 100*c.ValuesOnly, hf, ha)
		fmt.Fprintln(w, "| finder | first ms p50/p90 | 90% ms p50/p90 | all ms p50/p90 | exit ms p50/p90 | exit − all ms p50/p90 | found | queries p50/p90 (dead p50) | KiB p50 | CPU ms p50 | first ×lt | all ×lt | all ×ideal | exit ×ideal |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
		for _, s := range sr.summaries(o.finders) {
			fmt.Fprintf(w, "| %s | %s/%s | %s/%s | %s/%s | %s/%s | %s/%s | %.0f%% | %d/%d (%d) | %d | %d | %s | %s | %s | %s |\n",
				s.Finder, ms(s.First[0]), ms(s.First[1]), ms(s.P90[0]), ms(s.P90[1]), ms(s.All[0]), ms(s.All[1]),
				ms(s.Exit[0]), ms(s.Exit[1]), ms(s.Gap[0]), ms(s.Gap[1]), 100*s.Found, s.Queries[0], s.Queries[1], s.Dead, s.Bytes/1024, s.CPU.Milliseconds(),
				s.FirstVsLibtorrent, s.AllVsLibtorrent, s.AllVsIdeal, s.ExitVsIdeal)
		}
	}
	fmt.Fprintln(w, "\n\"—\": not reached by the median (or p90) run. Times from process start; ×: ratio of medians.")
}

type jsonSetting struct {
	Setting   string
	Config    dhtemu.Config
	Ideals    []dhtemu.Ideal
	Summaries []summary
	Runs      map[string][]metrics
}

func jsonReport(all []settingResult) []jsonSetting {
	var out []jsonSetting
	for _, sr := range all {
		js := jsonSetting{Setting: sr.name, Config: sr.cfg, Ideals: sr.ideals, Runs: map[string][]metrics{}}
		var finders []string
		for f, rs := range sr.runs {
			finders = append(finders, f)
			for _, r := range rs {
				js.Runs[f] = append(js.Runs[f], r.metrics())
			}
		}
		slices.Sort(finders)
		js.Summaries = sr.summaries(finders)
		out = append(out, js)
	}
	return out
}
