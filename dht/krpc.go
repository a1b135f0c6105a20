package dht

import "github.com/peerfind/peerfind/dht/internal/krpc"

// KRPC query methods of BEP 5.
const (
	methodPing         = "ping"
	methodFindNode     = "find_node"
	methodGetPeers     = "get_peers"
	methodAnnouncePeer = "announce_peer"
)

// reply is the decoded content of a response: what the lookups consume.
type reply = krpc.Reply
