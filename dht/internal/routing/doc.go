// Package routing is the routing table of a Mainline DHT node (BEP 5):
// buckets of K nodes split around our own id, replacement caches, the
// good/questionable/bad states, and the per-IP and per-subnet limits
// against Sybil placement. A node keeps one Table per address family.
package routing

import "github.com/peerfind/peerfind/dht/internal/nodeid"

// ID is a node id; distances between ids are their XOR (BEP 5).
type ID = nodeid.ID
