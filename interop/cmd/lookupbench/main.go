// Command lookupbench measures whole DHT get_peers lookups of peerfind's dht
// package and of anacrolix/dht v2.23.0, side by side in the same run, on a
// network of DHT nodes on loopback.
//
// Run it from the nested interop module:
//
//	cd interop && go run ./cmd/lookupbench -nodes 200 -rtt 20ms
//
// It builds a network of -nodes nodes, each on its own 127.1.x.y address
// (-kind mixed: half anacrolix servers and half peerfind nodes; ours or
// anacrolix: one implementation only), every socket delayed by -rtt/2 ±
// -rtt/4 per datagram in user space (tc netem is not available, docs/interop.md),
// and bootstraps every node -rounds times. Then, -lookups times: it places
// -peers peers for a fresh info hash, one at each of the closest nodes by
// XOR distance, starts a fresh peerfind node and a fresh anacrolix server
// with nearly the same id (the hash is in the other half of the id space:
// far away for both), bootstraps both off the same three network nodes, and
// runs one whole lookup with each (dht.Node.GetPeers; anacrolix's get_peers
// traversal, Server.Announce with port 0), in alternating order. Each lookup
// runs to its own end.
//
// The output is one table: per implementation the lookups measured, queries
// sent per lookup (peerfind: LookupStats.Queried; anacrolix: the server's
// OutboundQueriesAttempted delta), the median and 90th percentile of the
// time to the first peer (over lookups that found one) and to the last of
// the placed peers (over lookups that found them all), the percentage of
// placed peers found, the median time to the lookup's end; and a row of
// ratios peerfind/anacrolix. All traffic stays on 127.0.0.0/8; -deadline
// bounds the whole run, and a run cut short prints the lookups done.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	nodes    int
	kind     string
	rtt      time.Duration
	lookups  int
	peers    int
	rounds   int
	seed     uint64
	deadline time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command; it returns the exit status: 0 after printing
// the table, 1 if the network could not be built or no lookup completed,
// 2 for bad flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lookupbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	mix := fs.Bool("mix", false, "half anacrolix, half peerfind nodes (same as -kind mixed)")
	fs.IntVar(&o.nodes, "nodes", 200, "DHT nodes in the network")
	fs.StringVar(&o.kind, "kind", "mixed", "network nodes: ours, anacrolix or mixed")
	fs.DurationVar(&o.rtt, "rtt", 20*time.Millisecond, "round trip added to every exchange (0 for bare loopback)")
	fs.IntVar(&o.lookups, "lookups", 50, "lookups per implementation")
	fs.IntVar(&o.peers, "peers", 8, "peers placed per info hash, one at each of the closest nodes (at most 8)")
	fs.IntVar(&o.rounds, "rounds", 4, "bootstrap rounds of the network")
	fs.Uint64Var(&o.seed, "seed", 1, "seed for node ids, info hashes and roles")
	fs.DurationVar(&o.deadline, "deadline", 2*time.Minute, "bound on the whole run")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *mix {
		o.kind = "mixed"
	}
	if err := o.check(); err != nil {
		fmt.Fprintf(stderr, "lookupbench: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, o.deadline)
	defer cancel()
	res, err := bench(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "lookupbench: %v\n", err)
		return 1
	}
	if err := res.print(stdout); err != nil {
		fmt.Fprintf(stderr, "lookupbench: %v\n", err)
		return 1
	}
	if res.ours.n == 0 {
		fmt.Fprintf(stderr, "lookupbench: no lookup completed before the deadline\n")
		return 1
	}
	return 0
}

// check rejects flag values the network cannot be built with.
func (o options) check() error {
	switch {
	case o.kind != "ours" && o.kind != "anacrolix" && o.kind != "mixed":
		return fmt.Errorf("-kind %q: want ours, anacrolix or mixed", o.kind)
	case o.nodes < 16 || o.nodes > 5000:
		return fmt.Errorf("-nodes %d: want 16 to 5000", o.nodes)
	case o.lookups < 1 || o.lookups > 10000:
		return fmt.Errorf("-lookups %d: want 1 to 10000", o.lookups)
	case o.peers < 1 || o.peers > 8:
		return errors.New("-peers: want 1 to 8 (one peer at each of the k = 8 closest nodes)")
	case o.rounds < 1 || o.rounds > 10:
		return fmt.Errorf("-rounds %d: want 1 to 10", o.rounds)
	case o.rtt < 0 || o.rtt > 2*time.Second:
		return fmt.Errorf("-rtt %v: want 0 to 2s", o.rtt)
	case o.deadline <= 0:
		return fmt.Errorf("-deadline %v: want > 0", o.deadline)
	}
	return nil
}
