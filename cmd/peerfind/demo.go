package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/swarmtest"
)

type demoFlags struct {
	nodes, peers int
	timeout      time.Duration
	json         bool
}

func newDemoCmd(c *cli) *cobra.Command {
	f := &demoFlags{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Search a local swarm started on loopback (no network needed)",
		Long: `Start a whole swarm in this process, on loopback only -- an HTTP tracker, a UDP
tracker, a Mainline DHT of a few hundred nodes and dozens of peers of a
generated torrent, some announced only to a tracker, some only to the DHT,
some to both -- then search it with the very code of 'peerfind peers' and show
every peer found, where it came from and when. It takes a few seconds and
needs no network. Exit status 0 when every peer was found with the right
sources, 1 otherwise.`,
		Example: `  peerfind demo
  peerfind demo --nodes 1000 --peers 200
  peerfind demo --json | jq -c 'select(.type=="summary")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), c, f)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.nodes, "nodes", 300, fmt.Sprintf("DHT nodes in the local swarm (at most %d)", swarmtest.MaxNodes))
	fl.IntVar(&f.peers, "peers", 48, fmt.Sprintf("peers in the local swarm (at most %d)", swarmtest.MaxPeers))
	fl.DurationVar(&f.timeout, "timeout", 20*time.Second, "give up the search after this long; 0: no limit")
	fl.BoolVar(&f.json, "json", false, "print the search's NDJSON events (as 'peers --json') instead of the table")
	return cmd
}

func runDemo(ctx context.Context, c *cli, f *demoFlags) error {
	if f.nodes < 1 || f.nodes > swarmtest.MaxNodes || f.peers < 1 || f.peers > swarmtest.MaxPeers {
		return usageError("--nodes must be 1..%d and --peers 1..%d", swarmtest.MaxNodes, swarmtest.MaxPeers)
	}
	if f.timeout < 0 {
		return usageError("--timeout must not be negative, got %v", f.timeout)
	}
	timeout := f.timeout
	if timeout == 0 {
		timeout = -1 // 0: no limit, as in every command
	}
	out := c.stderr // narration; the results go to stdout
	if !f.json {
		out = c.stdout
	}
	t0 := time.Now()
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	sw, err := swarmtest.Start(sctx, swarmtest.Config{Nodes: f.nodes, Peers: f.peers, Name: "peerfind-demo"})
	cancel()
	if err != nil {
		return withStatus(exitError, fmt.Errorf("starting the local swarm: %w", err))
	}
	defer sw.Close()
	last := sw.Nodes[len(sw.Nodes)-1].LocalAddrs()[0].Addr()
	fmt.Fprintf(out, "Local swarm on loopback, started in %s:\n", roundDur(time.Since(t0)))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  torrent\t%s, info hash %s\n", sw.MetaInfo.Info.Name, sw.InfoHash)
	fmt.Fprintf(tw, "  HTTP tracker\t%s\t%d peers\n", sw.HTTPTracker, len(sw.PeersOn(swarmtest.OnHTTP)))
	fmt.Fprintf(tw, "  UDP tracker\t%s\t%d peers\n", sw.UDPTracker, len(sw.PeersOn(swarmtest.OnUDP)))
	fmt.Fprintf(tw, "  DHT\t%d nodes, 127.0.2.1 to %s\t%d peers (announce_peer took %s)\n", len(sw.Nodes), last, len(sw.PeersOn(swarmtest.OnDHT)), roundDur(sw.AnnounceDuration))
	fmt.Fprintf(tw, "  peers\t%d on 127.0.1.x\t%d on one tracker only, %d on the DHT only, %d everywhere\n", len(sw.Peers),
		countOn(sw, swarmtest.OnHTTP)+countOn(sw, swarmtest.OnUDP), countOn(sw, swarmtest.OnDHT), countOn(sw, swarmtest.OnHTTP|swarmtest.OnUDP|swarmtest.OnDHT))
	tw.Flush()
	fmt.Fprintf(out, "\nSearching it as 'peerfind peers' would (trackers and DHT at once, fresh DHT node):\n\n")

	tg := fromMetaInfo(sw.MetaInfo, "")
	o := &searchOptions{timeout: timeout, port: discovery.DefaultPort, json: f.json, quietPeers: !f.json, noSummary: !f.json, only4: true}
	for _, b := range sw.Bootstrap {
		o.bootstrap = append(o.bootstrap, b.String())
	}
	sum, _, err := runSearch(ctx, c, tg, o)
	if err != nil {
		return err
	}
	short := map[string]string{sw.HTTPTracker: "http-tracker", sw.UDPTracker: "udp-tracker", discovery.SourceDHT: "dht"}
	if !f.json {
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  PEER\tFOUND AFTER\tSOURCES")
		for _, p := range sum.Peers {
			var names []string
			for _, s := range p.Sources {
				names = append(names, short[s])
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.Addr, roundDur(p.FirstSeen), strings.Join(names, ", "))
		}
		tw.Flush()
		fmt.Fprintln(out)
		writeSummary(out, sum, len(sum.Peers), false)
	}
	bad := checkDemo(sw, sum)
	if len(bad) > 0 {
		for _, b := range bad {
			fmt.Fprintf(c.stderr, "  %s\n", b)
		}
		return withStatus(exitError, fmt.Errorf("the search missed or misattributed %d of %d peers", len(bad), len(sw.Peers)))
	}
	fmt.Fprintf(out, "\nAll %d peers found, each with exactly the sources it was announced to.\n", len(sw.Peers))
	return nil
}

func countOn(sw *swarmtest.Swarm, on int) int {
	n := 0
	for _, p := range sw.Peers {
		if p.On == on {
			n++
		}
	}
	return n
}

// checkDemo compares what the search found with what the swarm holds.
func checkDemo(sw *swarmtest.Swarm, sum *discovery.Summary) []string {
	found := make(map[netip.AddrPort][]string, len(sum.Peers))
	for _, p := range sum.Peers {
		found[p.Addr] = p.Sources
	}
	return sw.Check(found, discovery.SourceDHT)
}
