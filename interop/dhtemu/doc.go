// Package dhtemu emulates a Mainline DHT (BEP 5) on loopback, for
// benchmarks and tests of whole DHT finders: our command, libtorrent,
// anacrolix/dht.
//
// Every node has its own UDP socket on its own address 127.a.b.1 (a
// distinct /24 per node, so no per-IP or per-subnet rule of a finder
// squeezes them; Linux routes all of 127/8 to lo). The emulation lives in
// the nodes' sockets: a node delays and drops its own replies, so any
// program speaking KRPC over UDP takes part unmodified and meets the same
// network. One goroutine reads each socket; replies leave on timers.
//
// # Model
//
//   - Round trips: each node has a base RTT drawn log-normally (Config
//     MedianRTT, RTTSigma, capped at MaxRTT); each reply waits its node's
//     base RTT within ±Jitter before it is sent. The query itself arrives
//     at once, so the whole round trip is spent on the node's side.
//   - Loss: a live node leaves a query unanswered with probability Loss,
//     decided by a hash of the seed, the node and how many queries that
//     source has sent it before: every finder meets the same losses, and
//     a finder that asks again may get through.
//   - Dead nodes (share Dead): bound sockets that read and count queries
//     and never answer, listed in other nodes' tables like live ones.
//   - Tables come from global knowledge: for each common-prefix length with
//     its id, a node knows up to PerBucket random nodes at that distance,
//     plus its Neighbours closest nodes. A find_node or get_peers reply
//     lists the K nodes of its table closest to the target. PerBucket sets
//     how many hops a lookup needs (the Dense and Sparse presets).
//   - Peers: Targets info hashes, each with PeersPerTarget public-looking
//     IPv4 peers stored at the Holders closest live nodes, each holder
//     holding each peer with probability HolderShare. A holder answers
//     get_peers with values (and nodes, unless it is one of the ValuesOnly
//     share that answer with values alone). announce_peer is accepted with
//     the token get_peers gave, but not stored: the expected sets stay
//     fixed.
//   - The bootstrap node is node 0: live, its RTT drawn like the others'
//     or fixed by BootstrapRTT. DropFirst makes every node (or with
//     DropFirstBootstrapOnly the bootstrap node alone) ignore the first
//     queries from each source.
//   - Counts per source address (IP and port of the finder): queries by
//     method, queries to dead nodes, dropped queries, replies, bytes.
//
// Ideal gives, per target, the best any finder could do: Dijkstra over
// the chains of real replies from the bootstrap node, where querying node v
// costs its base RTT, with no loss, for a finder that queries every node it
// hears of at once.
//
// # Limits
//
// Nodes never query each other, join, leave or change their tables during
// a run; nothing is stored by announces; there is no IPv6 (BEP 32 "want"
// is honoured for n4 only); there are no malformed or hostile replies, no
// rate limits, no BEP 42 ids; loss is per query rather than per packet in
// each direction; and the RTT of a node is the same towards every finder.
// Timers on a loaded machine add their own delay (a millisecond or so),
// the same for every finder.
package dhtemu
