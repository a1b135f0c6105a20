package dhtemu

import (
	"errors"
	"fmt"
	"time"
)

// Config describes an emulated network. Every field is used as given: start
// from Dense or Sparse and change what a test needs. A Config is a plain
// value; Start does not keep a reference to it.
type Config struct {
	// Seed makes the network reproducible: the same Config gives the same
	// ids, addresses (but not ports, which the kernel picks), RTTs, tables,
	// dead set, targets, peers and loss decisions.
	Seed uint64
	// Nodes is the number of nodes, each with its own socket on its own
	// 127.a.b.1 (a distinct /24 per node).
	Nodes int
	// FirstOctet is a of the first node's 127.a.b.1; node i is on
	// 127.(FirstOctet + i/256).(i%256).1. Networks running at once in one
	// machine may share addresses: their ports differ.
	FirstOctet int

	// MedianRTT and RTTSigma give each node a log-normal base round-trip
	// time (the median and the sigma of ln RTT), capped at MaxRTT. The whole
	// round trip is spent before the node's reply leaves its socket.
	MedianRTT time.Duration
	RTTSigma  float64
	MaxRTT    time.Duration
	// Jitter varies each reply's delay uniformly within ±Jitter of the
	// node's base RTT (0.1: ±10%).
	Jitter float64
	// Loss is the share of queries a live node does not answer (the query
	// or its reply lost on the way).
	Loss float64
	// Dead is the share of nodes that are gone: their sockets stay bound
	// and read everything but never answer (an unbound port would make the
	// kernel answer ICMP port-unreachable, which real dead nodes behind NATs
	// do not), and they stay in the other nodes' tables.
	Dead float64

	// PerBucket is the table density: for each common-prefix length with
	// its own id, a node knows up to PerBucket random nodes at that distance
	// (dead ones included). It sets how many hops a lookup needs.
	PerBucket int
	// Neighbours is how many of its XOR-closest nodes every node knows in
	// addition, as real nodes know their own neighbourhood fully; it keeps
	// the nodes closest to a target reachable however sparse the far
	// buckets are.
	Neighbours int
	// K is how many nodes a reply lists: the K closest to the target in
	// the answering node's table (BEP 5: 8).
	K int
	// ValuesOnly is the share of nodes that answer get_peers with values
	// and no nodes when they hold peers, as anacrolix/dht and bittorrent-dht
	// do (BEP 5 allows either).
	ValuesOnly float64

	// Targets is the number of info hashes with peers, each with
	// PeersPerTarget peers stored at the Holders closest live nodes to it.
	// Each holder stores each peer with probability HolderShare (every peer
	// is stored at one holder at least), so a finder must reach most
	// holders to get every peer, as announces scatter on the real DHT.
	Targets        int
	PeersPerTarget int
	Holders        int
	HolderShare    float64

	// BootstrapRTT, if positive, is the bootstrap node's base RTT;
	// otherwise it is drawn like every other node's.
	BootstrapRTT time.Duration
	// DropFirst makes every node ignore the first DropFirst queries it
	// receives from each source address (IP and port), on top of Loss: a
	// test can show that a lost bootstrap reply must not end a search.
	DropFirst int
	// DropFirstBootstrapOnly limits DropFirst to the bootstrap node.
	DropFirstBootstrapOnly bool
}

// Defaults shared by both presets.
func base(nodes int) Config {
	return Config{
		Seed:           1,
		Nodes:          nodes,
		FirstOctet:     64,
		MedianRTT:      80 * time.Millisecond,
		RTTSigma:       0.98, // p90 = 80 ms * e^(1.2816*0.98) ≈ 280 ms
		MaxRTT:         1500 * time.Millisecond,
		Jitter:         0.1,
		Loss:           0.03,
		Dead:           0.3,
		Neighbours:     8,
		K:              8,
		ValuesOnly:     0.2,
		Targets:        12,
		PeersPerTarget: 30,
		Holders:        8,
		HolderShare:    0.75,
	}
}

// Dense returns the defaults for a network of nodes nodes whose tables are
// full enough that a lookup needs about 3 hops at 10,000 nodes.
func Dense(nodes int) Config {
	c := base(nodes)
	c.PerBucket = 16
	return c
}

// Sparse returns the defaults for a network of nodes nodes whose tables are
// thin enough that a lookup needs about 5 to 6 hops at 10,000 nodes, as on
// the real DHT of some 20 million nodes.
func Sparse(nodes int) Config {
	c := base(nodes)
	c.PerBucket = 1
	return c
}

// ErrConfig is wrapped by the errors of an invalid Config.
var ErrConfig = errors.New("dhtemu: invalid config")

// maxNodes is what 127.FirstOctet.0.1 up to 127.255.255.1 can hold.
func (c Config) maxNodes() int { return (256 - c.FirstOctet) * 256 }

func (c Config) check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...)
	}
	share := func(name string, v float64) error {
		if v < 0 || v > 1 {
			return bad("%s %v not in [0, 1]", name, v)
		}
		return nil
	}
	switch {
	case c.FirstOctet < 1 || c.FirstOctet > 255:
		return bad("FirstOctet %d not in [1, 255]", c.FirstOctet)
	case c.Nodes < 2 || c.Nodes > c.maxNodes():
		return bad("Nodes %d not in [2, %d]", c.Nodes, c.maxNodes())
	case c.MedianRTT <= 0 || c.MaxRTT < c.MedianRTT:
		return bad("MedianRTT %v and MaxRTT %v: want 0 < median <= max", c.MedianRTT, c.MaxRTT)
	case c.RTTSigma < 0 || c.Jitter < 0 || c.Jitter >= 1:
		return bad("RTTSigma %v, Jitter %v: want sigma >= 0, 0 <= jitter < 1", c.RTTSigma, c.Jitter)
	case c.PerBucket < 1 || c.K < 1 || c.Neighbours < 0:
		return bad("PerBucket %d, K %d, Neighbours %d: want >= 1, >= 1, >= 0", c.PerBucket, c.K, c.Neighbours)
	case c.Targets < 0 || c.PeersPerTarget < 0 || c.Holders < 1:
		return bad("Targets %d, PeersPerTarget %d, Holders %d", c.Targets, c.PeersPerTarget, c.Holders)
	case c.DropFirst < 0:
		return bad("DropFirst %d < 0", c.DropFirst)
	}
	for _, s := range []struct {
		n string
		v float64
	}{{"Loss", c.Loss}, {"Dead", c.Dead}, {"ValuesOnly", c.ValuesOnly}, {"HolderShare", c.HolderShare}} {
		if err := share(s.n, s.v); err != nil {
			return err
		}
	}
	if live := c.Nodes - int(float64(c.Nodes-1)*c.Dead); live < c.Holders+1 {
		return bad("%d live nodes cannot hold %d holders and a bootstrap node", live, c.Holders)
	}
	return nil
}
