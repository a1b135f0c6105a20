package dht

import (
	"net/netip"
	"slices"
	"strconv"

	"github.com/peerfind/peerfind/dht/internal/krpc"
	"github.com/peerfind/peerfind/dht/internal/routing"
	"github.com/peerfind/peerfind/internal/compact"
	"github.com/peerfind/peerfind/metainfo"
)

// Reply size limits. A reply to an address that never answered one of our
// queries may be spoofed, so it stays within amplifyFactor times the query
// that caused it: the DHT must not be a reflector. 4 is the least that
// fits the standard replies: 8 nodes to a ~95-byte find_node (~280 bytes
// over IPv4, ~370 over IPv6), and the 20 values of a typical swarm to a
// ~95-byte get_peers (~290 bytes; values go before nodes, see fitReply).
// A larger factor would give a spoofer more than 4× its upload; a smaller
// one would cut the standard replies to strangers, who are nearly every
// requester. Verified addresses get replies up to the ~1400-byte MTU BEP
// 32 recommends.
const (
	amplifyFactor  = 4
	maxReplySize   = 1400
	maxValuesReply = 100 // values per get_peers reply, even when there is room
)

// handleQuery answers one query (BEP 5) on the reader goroutine of s.
func (n *Node) handleQuery(s *sock, from netip.AddrPort, m *krpc.Msg, size int) {
	n.queriesIn.Add(1)
	if n.ro != 0 {
		return // BEP 43: a read-only node does not answer queries
	}
	if n.replyLim != nil && !n.replyLim.Allow(from.Addr()) {
		n.dropped.Add(1)
		return
	}
	id := m.SenderID()
	// BEP 43: a read-only sender is served but not added to the table,
	// since it will not answer our pings.
	if m.RO != 1 && n.acceptID(id, from.Addr()) && !n.isRouter(from) {
		if t := n.table(from); t != nil {
			t.Seen(routing.NodeInfo{ID: id, Addr: from}, routing.SeenQuery)
		}
	}
	r := &krpc.Return{}
	switch m.Q {
	case methodPing:
	case methodFindNode:
		if len(m.A.Target) != compact.IDLen {
			n.sendError(s, from, m.T, krpc.ErrCodeProtocol, "find_node: target must be 20 bytes")
			return
		}
		n.fillNodes(r, ID([]byte(m.A.Target)), from, m.A.Want)
	case methodGetPeers:
		if len(m.A.InfoHash) != compact.IDLen {
			n.sendError(s, from, m.T, krpc.ErrCodeProtocol, "get_peers: info_hash must be 20 bytes")
			return
		}
		ih := metainfo.Hash([]byte(m.A.InfoHash))
		r.Token = n.tokens.issue(from.Addr())
		for _, p := range n.store.get(ih, from.Addr().Is4(), maxValuesReply, m.A.NoSeed == 1) {
			r.Values = append(r.Values, string(compact.AppendPeer(nil, p)))
		}
		if m.A.Scrape == 1 {
			// BEP 33: the filters only when we store peers of ih.
			if sd, pe, ok := n.store.filters(ih); ok {
				r.BFsd, r.BFpe = string(sd[:]), string(pe[:])
			}
		}
		// Nodes too, even with values: a lookup that only meets nodes
		// holding values could not go on (docs/interop.md: bittorrent-dht and
		// anacrolix omit nodes then). When the reply must shrink, the
		// nodes go first (fitReply).
		n.fillNodes(r, ID(ih), from, m.A.Want)
	case methodAnnouncePeer:
		if len(m.A.InfoHash) != compact.IDLen {
			n.sendError(s, from, m.T, krpc.ErrCodeProtocol, "announce_peer: info_hash must be 20 bytes")
			return
		}
		if !n.tokens.valid(m.A.Token, from.Addr()) {
			n.sendError(s, from, m.T, krpc.ErrCodeProtocol, "announce_peer: bad token")
			return
		}
		port := from.Port()
		if m.A.ImpliedPort == 0 {
			// BEP 5: implied_port non-zero means use the UDP source port
			// (the peer is behind a NAT that maps both alike).
			if m.A.Port <= 0 || m.A.Port > 65535 {
				n.sendError(s, from, m.T, krpc.ErrCodeProtocol, "announce_peer: port out of range")
				return
			}
			port = uint16(m.A.Port)
		}
		if !n.store.add(metainfo.Hash([]byte(m.A.InfoHash)), netip.AddrPortFrom(from.Addr(), port), m.A.Seed == 1) {
			n.sendError(s, from, m.T, krpc.ErrCodeServer, "announce_peer: peer store full")
			return
		}
	default:
		n.sendError(s, from, m.T, krpc.ErrCodeMethodUnknown, "method unknown")
		return
	}
	r.ID = string(n.idBytes())
	reply := &krpc.Msg{T: m.T, Y: krpc.KindResponse, R: r, IP: string(compact.AppendPeer(nil, from))}
	budget := maxReplySize
	if !n.isVerified(from) {
		budget = min(budget, amplifyFactor*size)
	}
	n.sendBounded(s, from, reply, budget)
}

// fillNodes puts the k closest nodes to target into r: "nodes" and/or
// "nodes6" as the query's "want" asks, else the requester's family (BEP 32).
func (n *Node) fillNodes(r *krpc.Return, target ID, from netip.AddrPort, want []string) {
	w4, w6 := from.Addr().Is4(), !from.Addr().Is4()
	if len(want) > 0 {
		w4, w6 = slices.Contains(want, "n4"), slices.Contains(want, "n6")
	}
	if w4 {
		var b []byte
		for _, nd := range n.closestCompact(target, true, routing.K) {
			if nd.Addr != from {
				b = compact.AppendNode(b, nd)
			}
		}
		r.Nodes = string(b)
	}
	if w6 {
		var b []byte
		for _, nd := range n.closestCompact(target, false, routing.K) {
			if nd.Addr != from {
				b = compact.AppendNode(b, nd)
			}
		}
		r.Nodes6 = string(b)
	}
}

// sendBounded sends reply trimmed to budget bytes (fitReply), or nothing
// if even the bare reply is over budget (a tiny query): better no answer
// than an amplified one.
func (n *Node) sendBounded(s *sock, to netip.AddrPort, reply *krpc.Msg, budget int) {
	reply.V = n.version
	b := fitReply(make([]byte, 0, 512), reply, budget)
	if b == nil {
		n.dropped.Add(1)
		return
	}
	n.write(s, to, b)
}

// fitReply appends the encoding of reply to b, first trimming reply.R until
// the encoding is at most budget bytes: "nodes6" goes first (the other
// family, a bonus), then "nodes", then "values" — but BEP 33's two filters
// (over 512 bytes) go before the values when the reply cannot fit them
// even without values, as to an unverified requester: a scrape must not
// lift the amplification bound, and get_peers still gets its peers. BEP 33
// itself says to return fewer values to make room. Values come last because
// they are what a get_peers requester asks for, and a reply with values
// needs no nodes (BEP 5: "values" if the node has peers, else "nodes");
// nodes only let a lookup go on, which the requester's other candidates
// also do. Each list is cut from its end, so the closest nodes, listed
// first, are the ones kept. It returns nil if the reply cannot fit (or
// does not encode).
func fitReply(b []byte, reply *krpc.Msg, budget int) []byte {
	r := reply.R
	for range 64 { // each pass removes at least one entry or stops
		out, err := krpc.Append(b, reply)
		if err != nil {
			return nil
		}
		over := len(out) - len(b) - budget
		if over <= 0 {
			return out
		}
		if r == nil {
			return nil
		}
		switch {
		case len(r.Nodes6) > 0:
			keep := max(len(r.Nodes6)/compact.NodeLen6-(over+compact.NodeLen6-1)/compact.NodeLen6, 0)
			r.Nodes6 = r.Nodes6[:keep*compact.NodeLen6]
		case len(r.Nodes) > 0:
			keep := max(len(r.Nodes)/compact.NodeLen4-(over+compact.NodeLen4-1)/compact.NodeLen4, 0)
			r.Nodes = r.Nodes[:keep*compact.NodeLen4]
		case (r.BFsd != "" || r.BFpe != "") && !fitsWithoutValues(reply, budget):
			r.BFsd, r.BFpe = "", ""
		case len(r.Values) > 0:
			// Drop from the end just enough encoded bytes ("6:" and 6
			// for IPv4, "18:" and 18 for IPv6).
			freed := 0
			for freed < over && len(r.Values) > 0 {
				v := r.Values[len(r.Values)-1]
				freed += len(v) + len(strconv.Itoa(len(v))) + 1
				r.Values = r.Values[:len(r.Values)-1]
			}
			if len(r.Values) == 0 {
				r.Values = nil
			}
		default:
			return nil
		}
	}
	return nil
}

// fitsWithoutValues reports whether reply, its values left out, encodes in
// at most budget bytes.
func fitsWithoutValues(reply *krpc.Msg, budget int) bool {
	m, r := *reply, *reply.R
	r.Values = nil
	m.R = &r
	b, err := krpc.Append(nil, &m)
	return err == nil && len(b) <= budget
}

// sendError answers a query with a KRPC error; it is always small.
// The caller has applied the reply rate limit.
func (n *Node) sendError(s *sock, to netip.AddrPort, t string, code int, msg string) {
	if len(msg) > 64 {
		msg = msg[:64]
	}
	n.send(s, to, &krpc.Msg{T: t, Y: krpc.KindError, E: &krpc.Error{Code: code, Msg: msg}})
}
