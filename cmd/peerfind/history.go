package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerfind/peerfind/store"
)

type historyFlags struct {
	db   string
	json bool
	svg  string
}

func newHistoryCmd(c *cli) *cobra.Command {
	f := &historyFlags{}
	cmd := &cobra.Command{
		Use:   "history TARGET",
		Short: "Show a crawled swarm's size round by round",
		Long: `Show what the crawls stored in --db about one TARGET (an info hash, a magnet
link or a .torrent file), one round per line: the swarm size estimate and its
range, the distinct peers found and how many were new, and each source's
count (peers named; for a scrape, seeders + leechers).

The estimate is the largest count one source vouches for: the distinct peers
found, or a tracker's seeders + leechers; the range's upper end assumes the
sources overlap nowhere.

With --json, one NDJSON object per round with every source's figures.
With --svg FILE, also draw the swarm size over time per source as an SVG
image, the estimate's range shaded.`,
		Example: `  peerfind history 0123456789abcdef0123456789abcdef01234567
  peerfind history x.torrent --svg x.svg
  peerfind history x.torrent --json | jq .estimate`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("history takes exactly one TARGET; got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			tg, err := loadTarget(args[0], c.stdin)
			if err != nil {
				var se *statusError
				if errors.As(err, &se) {
					return err
				}
				return withStatus(exitError, err)
			}
			st, err := openStore(cmd.Context(), f.db)
			if err != nil {
				return err
			}
			defer st.Close()
			hist, err := st.History(cmd.Context(), tg.InfoHashes[0])
			if err != nil {
				return withStatus(exitError, err)
			}
			if f.svg != "" {
				if err := writeHistorySVG(f.svg, tg.name, hist); err != nil {
					return withStatus(exitError, err)
				}
			}
			if f.json {
				return printHistoryJSON(c, hist)
			}
			printHistory(c, hist)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.db, "db", "", "the database: a SQLite file `path` or a postgres:// URL (default: as crawl)")
	fl.BoolVar(&f.json, "json", false, "print NDJSON, one object per round")
	fl.StringVar(&f.svg, "svg", "", "also draw the swarm size over time into this SVG `file`")
	return cmd
}

// sourceCount is what a history shows of one observation: the peers a
// source named, or for a scrape the seeders + leechers (-1 if unknown).
func sourceCount(o store.ObservationRow) int {
	if o.Kind == "scrape" {
		if o.Seeders < 0 || o.Leechers < 0 {
			return -1
		}
		return o.Seeders + o.Leechers
	}
	return o.Peers
}

// shortSource names a source in a table header: a tracker by its host and
// port, a scrape as "scrape host:port".
func shortSource(s string) string {
	prefix := ""
	if rest, ok := strings.CutPrefix(s, "scrape:"); ok {
		prefix, s = "scrape ", rest
	}
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return prefix + u.Scheme + "://" + u.Host
	}
	return prefix + s
}

// historySources lists the sources of a history in order of appearance.
func historySources(hist []store.RoundResult) []string {
	var names []string
	seen := map[string]bool{}
	for _, r := range hist {
		for _, o := range r.Observations {
			if !seen[o.Source] {
				seen[o.Source] = true
				names = append(names, o.Source)
			}
		}
	}
	return names
}

func printHistory(c *cli, hist []store.RoundResult) {
	names := historySources(hist)
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "ROUND\tTIME (UTC)\tESTIMATE\tRANGE\tPEERS\tNEW\t")
	for _, n := range names {
		fmt.Fprintf(tw, "%s\t", strings.ToUpper(shortSource(n)))
	}
	fmt.Fprintln(tw)
	for _, r := range hist {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d-%d\t%d\t%d\t", r.Round, r.Started.Format("2006-01-02 15:04"), r.Estimate, r.Estimate, r.EstimateHigh, r.Peers, r.NewPeers)
		by := map[string]store.ObservationRow{}
		for _, o := range r.Observations {
			by[o.Source] = o
		}
		for _, n := range names {
			o, ok := by[n]
			switch {
			case !ok:
				fmt.Fprint(tw, "\t")
			case o.Err != "" && sourceCount(o) <= 0:
				fmt.Fprint(tw, "error\t")
			case sourceCount(o) < 0:
				fmt.Fprint(tw, "?\t")
			default:
				fmt.Fprintf(tw, "%d\t", sourceCount(o))
			}
		}
		fmt.Fprintln(tw)
		if r.Err != "" {
			fmt.Fprintf(tw, "\t%s\n", r.Err)
		}
	}
	tw.Flush()
}

type jsonHistorySource struct {
	Source    string `json:"source"`
	Kind      string `json:"kind"`
	Peers     *int   `json:"peers"`
	NewPeers  *int   `json:"new_peers"`
	Seeders   *int   `json:"seeders"`
	Leechers  *int   `json:"leechers"`
	Completed *int   `json:"completed"`
	LatencyMS int64  `json:"latency_ms"`
	Error     string `json:"error,omitempty"`
}

type jsonHistoryRound struct {
	Round        int64               `json:"round"`
	Time         time.Time           `json:"time"`
	DurationMS   int64               `json:"duration_ms"`
	Reason       string              `json:"reason"`
	Estimate     int                 `json:"estimate"`
	EstimateHigh int                 `json:"estimate_high"`
	Peers        int                 `json:"peers"`
	NewPeers     int                 `json:"new_peers"`
	Error        string              `json:"error,omitempty"`
	Sources      []jsonHistorySource `json:"sources"`
}

func printHistoryJSON(c *cli, hist []store.RoundResult) error {
	enc := json.NewEncoder(c.stdout)
	for _, r := range hist {
		v := jsonHistoryRound{Round: r.Round, Time: r.Started, DurationMS: r.Duration.Milliseconds(), Reason: r.Reason,
			Estimate: r.Estimate, EstimateHigh: r.EstimateHigh, Peers: r.Peers, NewPeers: r.NewPeers, Error: r.Err, Sources: []jsonHistorySource{}}
		for _, o := range r.Observations {
			v.Sources = append(v.Sources, jsonHistorySource{Source: o.Source, Kind: o.Kind, Peers: optCount(o.Peers), NewPeers: optCount(o.NewPeers),
				Seeders: optCount(o.Seeders), Leechers: optCount(o.Leechers), Completed: optCount(o.Completed), LatencyMS: o.LatencyMS, Error: o.Err})
		}
		if err := enc.Encode(v); err != nil {
			return withStatus(exitError, fmt.Errorf("writing the history: %w", err))
		}
	}
	return nil
}

// writeHistorySVG draws the estimate, the distinct peers found and each
// source's count over time.
func writeHistorySVG(path, name string, hist []store.RoundResult) error {
	ch := &svgChart{Title: "Swarm size of " + name}
	est := svgSeries{Name: "estimate (shaded: its range)"}
	found := svgSeries{Name: "distinct peers found"}
	by := map[string]*svgSeries{}
	names := historySources(hist)
	for _, n := range names {
		by[n] = &svgSeries{Name: shortSource(n)}
	}
	for _, r := range hist {
		est.Points = append(est.Points, svgPoint{r.Started, float64(r.Estimate)})
		ch.Band = append(ch.Band, svgRange{r.Started, float64(r.Estimate), float64(r.EstimateHigh)})
		found.Points = append(found.Points, svgPoint{r.Started, float64(r.Peers)})
		for _, o := range r.Observations {
			if n := sourceCount(o); n >= 0 {
				by[o.Source].Points = append(by[o.Source].Points, svgPoint{r.Started, float64(n)})
			}
		}
	}
	ch.Series = append(ch.Series, est, found)
	for _, n := range names {
		ch.Series = append(ch.Series, *by[n])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := ch.write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
