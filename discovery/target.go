package discovery

import (
	"net/netip"

	"github.com/peerfind/peerfind/magnet"
	"github.com/peerfind/peerfind/metainfo"
)

// TargetFromMetaInfo returns the target of a parsed .torrent file: its swarm
// keys (both for a hybrid v1+v2 torrent), its tracker tiers, its DHT nodes,
// its private flag and its size.
func TargetFromMetaInfo(m *metainfo.MetaInfo) Target {
	return Target{
		InfoHashes: m.SwarmHashes(),
		Trackers:   m.Trackers(),
		Nodes:      append([]string(nil), m.Nodes...),
		Private:    m.Info.Private,
		Size:       m.Info.TotalLength,
	}
}

// TargetFromMagnet returns the target of a magnet link: its swarm keys, its
// trackers (each its own tier: a magnet link has no tiers), its x.pe peers
// and its size (xl) if given. Peers given by host name rather than IP address are left out, since
// a target holds addresses; the caller may resolve them and add them.
func TargetFromMagnet(m *magnet.Magnet) Target {
	t := Target{InfoHashes: m.SwarmHashes(), Size: max(m.Length, 0)}
	for _, u := range m.Trackers {
		t.Trackers = append(t.Trackers, []string{u})
	}
	for _, p := range m.Peers {
		if a, err := netip.ParseAddrPort(p); err == nil {
			t.Peers = append(t.Peers, a)
		}
	}
	return t
}
