package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerfind/peerfind/store"
)

type exportFlags struct {
	db     string
	format string
	rows   string
	since  string
}

func newExportCmd(c *cli) *cobra.Command {
	f := &exportFlags{}
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write crawl results as CSV or NDJSON",
		Long: `Write what the crawls stored in --db on standard output, one row per
observation (--rows observations: one source's view of one target in one
round), per peer sighting (--rows sightings: one peer of one target in one
round), or per peer (--rows peers: one peer of one target over all rounds:
first and last seen, rounds seen, the kinds of source that named it). Every row is self-contained -- info hash, name, round, source, time
(UTC, RFC 3339), and the peer's address for a sighting -- so that grep and
jq work on it without joins.

--since keeps rows from that time on (for peers: last seen since then): a duration back from now (24h, 90m) or
a date or time (2026-12-01, 2026-12-01T10:00:00Z).

Counts that are unknown (a DHT source's seeders, a scrape's peers) are -1.`,
		Example: `  peerfind export --format csv > observations.csv
  peerfind export --rows sightings --since 24h --format ndjson | jq -r .address
  peerfind export --db postgres://peerfind@db/peerfind --since 2026-12-01`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return usageError("export takes no arguments; got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExport(cmd, c, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.db, "db", "", "the database: a SQLite file `path` or a postgres:// URL (default: as crawl)")
	fl.StringVar(&f.format, "format", "csv", "csv or ndjson")
	fl.StringVar(&f.rows, "rows", "observations", "observations, sightings or peers")
	fl.StringVar(&f.since, "since", "", "only rows from this `time` on: a duration back from now (24h) or a date/time (2026-12-01, RFC 3339)")
	return cmd
}

// parseSince reads --since: a duration back from now, a date, or an RFC
// 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since %q: a negative duration", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration (24h) or a date or time (2026-12-01, 2026-12-01T10:00:00Z)", s)
}

var (
	observationHeader = []string{"info_hash", "name", "round", "time", "source", "kind", "peers", "new_peers", "seeders", "leechers", "completed", "queries", "errors", "latency_ms", "error"}
	sightingHeader    = []string{"info_hash", "name", "round", "time", "address", "sources"}
	peerHeader        = []string{"info_hash", "name", "address", "first_seen", "last_seen", "first_round", "last_round", "rounds", "sources"}
)

func runExport(cmd *cobra.Command, c *cli, f *exportFlags) error {
	if f.format != "csv" && f.format != "ndjson" {
		return usageError("--format %q: want csv or ndjson", f.format)
	}
	if f.rows != "observations" && f.rows != "sightings" && f.rows != "peers" {
		return usageError("--rows %q: want observations, sightings or peers", f.rows)
	}
	since, err := parseSince(f.since, time.Now())
	if err != nil {
		return usageError("%v", err)
	}
	st, err := openStore(cmd.Context(), f.db)
	if err != nil {
		return err
	}
	defer st.Close()
	bw := bufio.NewWriter(c.stdout)
	w := newRowWriter(bw, f.format)
	ctx := cmd.Context()
	switch f.rows {
	case "observations":
		w.header(observationHeader)
		err = st.Observations(ctx, since, func(o store.ObservationRow) error {
			return w.row(o, []string{o.InfoHash, o.Name, itoa64(o.Round), o.Time.Format(time.RFC3339Nano), o.Source, o.Kind,
				strconv.Itoa(o.Peers), strconv.Itoa(o.NewPeers), strconv.Itoa(o.Seeders), strconv.Itoa(o.Leechers), strconv.Itoa(o.Completed),
				strconv.Itoa(o.Queries), strconv.Itoa(o.Errors), itoa64(o.LatencyMS), o.Err})
		})
	case "sightings":
		w.header(sightingHeader)
		err = st.Sightings(ctx, since, func(s store.SightingRow) error {
			return w.row(s, []string{s.InfoHash, s.Name, itoa64(s.Round), s.Time.Format(time.RFC3339Nano), s.Address, s.Sources})
		})
	case "peers":
		w.header(peerHeader)
		err = st.Peers(ctx, since, func(p store.PeerRow) error {
			return w.row(p, []string{p.InfoHash, p.Name, p.Address, p.FirstSeen.Format(time.RFC3339Nano), p.LastSeen.Format(time.RFC3339Nano),
				itoa64(p.FirstRound), itoa64(p.LastRound), strconv.Itoa(p.Rounds), strings.Join(p.Sources, " ")})
		})
	}
	if err == nil {
		err = w.flush()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return withStatus(exitError, fmt.Errorf("export: %w", err))
	}
	return nil
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// rowWriter writes rows as CSV (with a header) or NDJSON.
type rowWriter struct {
	csv  *csv.Writer
	json *json.Encoder
}

func newRowWriter(w io.Writer, format string) *rowWriter {
	if format == "csv" {
		return &rowWriter{csv: csv.NewWriter(w)}
	}
	return &rowWriter{json: json.NewEncoder(w)}
}

func (w *rowWriter) header(cols []string) {
	if w.csv != nil {
		w.csv.Write(cols)
	}
}

func (w *rowWriter) row(v any, fields []string) error {
	if w.csv != nil {
		for i, s := range fields {
			fields[i] = strings.ToValidUTF8(s, "\uFFFD")
		}
		if err := w.csv.Write(fields); err != nil {
			return err
		}
		return nil
	}
	return w.json.Encode(v)
}

func (w *rowWriter) flush() error {
	if w.csv != nil {
		w.csv.Flush()
		return w.csv.Error()
	}
	return nil
}
