package dht

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"
)

// Errors callers can branch on.
var (
	// ErrClosed is returned by calls on a closed Node.
	ErrClosed = errors.New("dht: node closed")
	// ErrNoNodes means a lookup or bootstrap had no node to start from or
	// ended with none: the node is stuck until it is given nodes.
	ErrNoNodes = errors.New("dht: no nodes")
	// ErrTimeout is wrapped by a query that reached its hard timeout.
	ErrTimeout = errors.New("dht: query timed out")
	// ErrNoSocket means no socket of the address family of the destination.
	ErrNoSocket = errors.New("dht: no socket for address family")
)

// QueryError reports a failed query to one node.
type QueryError struct {
	Addr   netip.AddrPort
	Method string
	Err    error // ErrTimeout, the node's KRPC error reply (BEP 5), a socket error, or ctx.Err()
}

// Error returns "dht: METHOD to ADDR: cause".
func (e *QueryError) Error() string {
	return fmt.Sprintf("dht: %s to %s: %v", e.Method, e.Addr, e.Err)
}

// Unwrap returns the cause.
func (e *QueryError) Unwrap() error { return e.Err }

// BEP42Mode says how node ids that do not match their IP (BEP 42) are
// treated. Addresses that cannot be checked (loopback, private) are never
// penalised.
type BEP42Mode int

const (
	// BEP42Prefer keeps nodes with non-conforming ids but prefers verified
	// ones when a bucket is full. It is the default: most of the DHT does not
	// conform yet.
	BEP42Prefer BEP42Mode = iota
	// BEP42Off ignores BEP 42 when choosing nodes.
	BEP42Off
	// BEP42Enforce refuses nodes whose id does not match their public IP,
	// both in the table and in lookups.
	BEP42Enforce
)

// Resolver resolves router host names. *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config configures a Node. Every zero field means the documented default,
// so Config{Conn4: c} is a working node.
type Config struct {
	// Conn4 and Conn6 are the IPv4 and IPv6 sockets; at least one is
	// required. The Node owns them from New on and closes them in Close.
	Conn4, Conn6 net.PacketConn
	// ID is our node id. If zero, State's id is used, else a random one,
	// replaced during Bootstrap by a BEP 42-conforming id once our public IP
	// is known.
	ID ID
	// State is a saved state to start warm from. If nil, the node starts
	// cold.
	State *State
	// BootstrapNodes are tried after the saved nodes and before the routers:
	// a torrent's "nodes" and user-given nodes. A lookup on an empty table
	// starts from the same seeds, so Bootstrap is optional.
	BootstrapNodes []netip.AddrPort
	// BootstrapRouters are host:port routers, tried last. If nil,
	// DefaultRouters; if non-nil and empty, none.
	BootstrapRouters []string
	// Resolver resolves router names. If nil, net.DefaultResolver.
	Resolver Resolver
	// ReadOnly makes this a BEP 43 read-only node: queries carry "ro": 1 and
	// incoming queries are not answered. Off by default for a library, but a
	// command-line run of a few seconds should set it: its address is gone a
	// moment later, and other nodes would otherwise keep it in their tables
	// and ping it in vain.
	ReadOnly bool
	// BEP42 chooses how non-conforming node ids are treated. Zero is
	// BEP42Prefer.
	BEP42 BEP42Mode
	// Alpha is the number of concurrent queries per lookup that have not
	// yet passed the soft timeout. If zero, 10: on heavy-tailed round trips
	// with many dead nodes, a wide lookup follows the fast chains of
	// replies toward the target, and still sends fewer queries than
	// libtorrent's (README, "DHT performance").
	Alpha int
	// QueryTimeout is the hard timeout of one query, after which the node
	// counts as failed. If zero, 2 s.
	QueryTimeout time.Duration
	// SoftTimeoutMin and SoftTimeoutMax clamp the soft timeout (the median
	// of the recent round trips) after which a query stops counting against
	// Alpha. If zero, 50 ms and 1 s.
	SoftTimeoutMin, SoftTimeoutMax time.Duration
	// QueryRate caps outgoing queries per second for the whole node; queries
	// wait for their turn. If zero, 200; negative means unlimited.
	QueryRate float64
	// PerIPRate caps packets per second to one destination IP; a query over
	// the cap waits. If zero, 4/s with a burst of 8: libtorrent blocks an IP
	// for 5 minutes when it averages more than 5 packets/s over 10 s.
	// Negative means unlimited. Local addresses (nodeid.Exempt) are not
	// capped.
	PerIPRate float64
	// ReplyRate caps replies per second to one source IP; queries over it
	// are dropped. If zero, 20/s; negative means unlimited.
	ReplyRate float64
	// MaxPending bounds queries in flight; more wait. If zero, 1024.
	MaxPending int
	// PeerTTL, MaxPeersPerHash, MaxStoredHashes and MaxStoredPeers bound
	// the store of announced peers. If zero: 30 min, 500, 5000, 50000.
	// MaxPeersPerHash is at most 6000, BEP 33's limit, past which the
	// scrape filters of a swarm saturate.
	PeerTTL                                          time.Duration
	MaxPeersPerHash, MaxStoredHashes, MaxStoredPeers int
	// Version is the "v" key of our messages (BEP 5: 2-byte client id plus
	// 2-byte version). If empty, "PF" 0 1.
	Version string
	// Rand is the source of ids, transaction ids and token secrets. If
	// nil, crypto/rand.
	Rand io.Reader
	// Trace, if not nil, is called once for every query a lookup sends,
	// when it ends (a reply, a timeout, an error, or the end of the lookup
	// before an answer), so that a user can
	// see why a lookup found nothing (the command's --verbose). It is
	// called from many goroutines at once and must be quick; the Node
	// never logs by itself.
	Trace func(QueryTrace)
}

// QueryTrace is one lookup query and how it ended, for Config.Trace.
type QueryTrace struct {
	Method string         // "get_peers" or "find_node"
	Addr   netip.AddrPort // the node asked
	RTT    time.Duration  // from the first send to the end
	Nodes  int            // nodes in the reply
	Peers  int            // peers in the reply
	Err    error          // nil for a reply; wraps ErrTimeout for a timeout, is context.Canceled when the lookup ended first
}

func (c *Config) rand() io.Reader {
	if c.Rand != nil {
		return c.Rand
	}
	return rand.Reader
}

func orDuration(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// defaultAlpha is the lookup concurrency when Config.Alpha is zero.
const defaultAlpha = 10
