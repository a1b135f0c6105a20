// Package dht implements a Mainline DHT node (BEP 5) with IPv6 (BEP 32),
// node-id security (BEP 42) and read-only mode (BEP 43).
//
// A Node looks up the peers of an info hash (GetPeers), announces a peer
// (Announce), and finds the nodes closest to an id (FindNode). State with
// SaveState and LoadState lets the next run start warm. The building blocks
// (KRPC codec, routing table, rate limiters) are internal packages.
package dht

import "github.com/peerfind/peerfind/dht/internal/nodeid"

// ID is a 160-bit DHT node id or info hash; distances between ids are
// their XOR (BEP 5). Its String method gives 40 lowercase hex digits.
type ID = nodeid.ID

// ParseID parses 40 hex digits (either case) into an id.
func ParseID(s string) (ID, error) { return nodeid.Parse(s) }
