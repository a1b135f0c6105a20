package main

// `peerfind metadata TARGET -o FILE.torrent` and `peerfind info --fetch`:
// a magnet link's metadata (the info dictionary) fetched from the swarm
// (BEP 9), checked against the info hash, and written out as a .torrent.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/metainfo"
)

// metadataJob is what a metadata search found.
type metadataJob struct {
	info     []byte
	from     netip.AddrPort
	trackers [][]string // the target's own trackers: the .torrent's announce-list
}

func newMetadataCmd(c *cli) *cobra.Command {
	f := &peersFlags{}
	var out string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "metadata TARGET -o FILE.torrent",
		Short: "Fetch a magnet link's metadata from the swarm and write a .torrent",
		Long: `Find the peers of TARGET (as 'peers' does), handshake them, and ask those that
answer for the torrent's metadata (BEP 9), several at once, until one gives an
info dictionary whose SHA-1 is the info hash (and, for a v2 or hybrid magnet
with urn:btmh, whose SHA-256 is the v2 hash: BEP 52). Peers that reject the
request or send pieces of the wrong size or bytes of the wrong hash are
dropped. The .torrent written holds the info dictionary byte for byte, as the
peer sent it, with TARGET's trackers as its announce-list (BEP 12). A v2
torrent's piece layers are not part of the metadata and are not fetched
(clients fetch them from peers too).

The peers checked along the way are summed up on standard error; with --json
standard output carries the NDJSON events of 'peers --verify --json' and the
"metadata" events (one per peer asked).

Exit status: 0 written, 1 error, 2 usage error, 3 no peer gave the metadata,
130/143 interrupted.`,
		Example: `  peerfind metadata 'magnet:?xt=urn:btih:...' -o x.torrent
  peerfind metadata 'magnet:?xt=urn:btih:...&x.pe=127.0.0.1:6881' --no-dht --no-trackers -o -`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("metadata takes exactly one TARGET (a magnet link, an info hash or a .torrent file); got %d arguments", len(args))
			}
			if out == "" {
				return usageError("metadata needs -o FILE.torrent (- for standard output)")
			}
			if asJSON && out == "-" {
				return usageError("--json prints events on standard output: -o - is not possible with it")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f.timeoutExplicit = cmd.Flags().Changed("timeout")
			f.search.json = asJSON
			job, err := fetchMetadata(cmd, c, args[0], f)
			if err != nil {
				return err
			}
			data, mi, err := metainfo.NewTorrent(job.info, job.trackers)
			if err != nil {
				return withStatus(exitError, fmt.Errorf("the metadata from %s is no valid info dictionary: %w", job.from, err))
			}
			if err := writeFileAtomic(c.stdout, out, data); err != nil {
				return withStatus(exitError, err)
			}
			where := out
			if out == "-" {
				where = "standard output"
			}
			fmt.Fprintf(c.stderr, "wrote %s: %q, %d bytes in %s, %s; info dictionary of %d bytes from %s\n",
				where, mi.Info.Name, mi.Info.TotalLength, plural(len(mi.Info.Files), "file"), plural(mi.Info.NumPieces, "piece"), len(job.info), job.from)
			return nil
		},
	}
	fl := cmd.Flags()
	o := &f.search
	fl.StringVarP(&out, "output", "o", "", "write the .torrent to `FILE` (- for standard output)")
	fl.BoolVar(&asJSON, "json", false, "print the NDJSON events of the search on standard output")
	fl.DurationVar(&o.timeout, "timeout", discovery.DefaultTimeout, "give up after this long")
	fl.BoolVar(&o.noDHT, "no-dht", false, "do not use the DHT")
	fl.BoolVar(&f.noTrackers, "no-trackers", false, "do not use the trackers")
	fl.StringArrayVar(&f.trackers, "tracker", nil, "also announce to this tracker `URL` (repeatable)")
	fl.StringArrayVar(&o.bootstrap, "bootstrap", nil, "bootstrap the DHT from `host:port` instead of the public routers (repeatable)")
	fl.BoolVarP(&o.only4, "ipv4", "4", false, "IPv4 only")
	fl.BoolVarP(&o.only6, "ipv6", "6", false, "IPv6 only")
	fl.StringVar(&f.stateDir, "state-dir", "", "`directory` of the saved DHT state")
	fl.BoolVar(&f.noState, "no-state", false, "neither load nor save the DHT state")
	fl.Uint16Var(&o.port, "port", discovery.DefaultPort, "the `port` announced to trackers")
	fl.IntVar(&o.verify.maxConns, "max-conns", discovery.DefaultMaxConns, "at most `N` connections to peers open at once")
	fl.DurationVar(&o.verify.timeout, "verify-timeout", 0, "give each peer this long to connect and answer the handshake (default 10s)")
	o.settle = discovery.DefaultSettle
	return cmd
}

// fetchMetadata runs a verifying search of arg that fetches the metadata.
// The peer lines of the search are not printed (JSON events are, with
// --json); the summary goes to standard error.
func fetchMetadata(cmd *cobra.Command, c *cli, arg string, f *peersFlags) (*metadataJob, error) {
	job := &metadataJob{}
	f.search.verify.on = true
	f.search.verify.find = func(ctx context.Context, tg *target, cfg *discovery.Config, fn func(discovery.Event)) (*discovery.Summary, error) {
		var v2 metainfo.HashV2
		switch {
		case tg.meta != nil:
			v2 = tg.meta.InfoHashV2
			job.trackers = tg.meta.Trackers()
		case tg.mag != nil:
			if len(tg.mag.InfoHashesV2) > 0 {
				v2 = tg.mag.InfoHashesV2[0]
			}
			job.trackers = discovery.TargetFromMagnet(tg.mag).Trackers
		}
		info, sum, err := discovery.FetchMetadata(ctx, tg.Target, v2, cfg, func(e discovery.Event) {
			if m, ok := e.(*discovery.MetadataEvent); ok && m.Err == nil && job.info == nil {
				job.from = m.Peer
			}
			fn(e)
		})
		job.info = info
		if errors.Is(err, discovery.ErrNoMetadata) {
			err = nil // said below, with the search's outcome
		}
		return sum, err
	}
	sc := *c
	if !f.search.json {
		sc.stdout = io.Discard
	}
	err := runPeers(cmd, &sc, arg, f)
	if job.info != nil {
		return job, nil
	}
	var se *statusError
	if err != nil && (!errors.As(err, &se) || se.status != exitNoPeers) {
		return nil, err // bad input, every source failed, interrupted
	}
	return nil, withStatus(exitNoPeers, errors.New("no peer gave the metadata (see above)"))
}

// writeFileAtomic writes data to path through a temporary file renamed
// into place, so that a reader never sees half a .torrent; "-" is w.
func writeFileAtomic(w io.Writer, path string, data []byte) error {
	if path == "-" {
		_, err := w.Write(data)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// fetchInfo is `info --fetch`: the metadata fetched with the defaults of
// `metadata`, then described as `info` describes a .torrent.
func fetchInfo(cmd *cobra.Command, c *cli, arg string, f *peersFlags) (*infoView, error) {
	f.search.port = discovery.DefaultPort
	f.search.verify.maxConns = discovery.DefaultMaxConns
	f.search.settle = discovery.DefaultSettle
	job, err := fetchMetadata(cmd, c, arg, f)
	if err != nil {
		return nil, err
	}
	_, mi, err := metainfo.NewTorrent(job.info, job.trackers)
	if err != nil {
		return nil, withStatus(exitError, fmt.Errorf("the metadata from %s is no valid info dictionary: %w", job.from, err))
	}
	v := torrentInfo("", mi)
	v.Source = "fetched"
	return v, nil
}
