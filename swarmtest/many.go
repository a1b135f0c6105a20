package swarmtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"

	"github.com/peerfind/peerfind/bencode"
	"github.com/peerfind/peerfind/metainfo"
)

// MaxTorrentPeers bounds the peers of all the torrents AddTorrents adds to
// one swarm, by the loopback addresses they use (127.1.0.1 upwards).
const MaxTorrentPeers = 1 << 20

// TorrentsConfig describes the torrents AddTorrents adds.
type TorrentsConfig struct {
	// N is the number of torrents.
	N int
	// Peers is the number of peers of each torrent. If zero, 8. Peer i of
	// a torrent is placed as in Config.Peers (i%4: HTTP, UDP, DHT, all).
	Peers int
	// DHT is the number of torrents, the first ones, whose DHT peers are
	// announced on the DHT; the others' DHT peers go to the HTTP tracker
	// instead. Each DHT peer costs a bootstrap and an announce, so a test
	// of a thousand torrents keeps this small.
	DHT int
	// Seed makes the torrents reproducible. If zero, 1.
	Seed uint64
}

// Torrent is one of the torrents added by AddTorrents.
type Torrent struct {
	Torrent  []byte             // the .torrent, naming the swarm's trackers and DHT nodes
	MetaInfo *metainfo.MetaInfo // Torrent parsed
	InfoHash metainfo.Hash
	Peers    []Peer
}

// AddTorrents adds torrents served by the swarm's trackers and DHT, each
// with its own peers at distinct addresses, so that one swarm holds as many
// torrents as a crawl test wants. ctx bounds the DHT announces.
func (s *Swarm) AddTorrents(ctx context.Context, cfg TorrentsConfig) ([]*Torrent, error) {
	per := cfg.Peers
	if per == 0 {
		per = 8
	}
	if cfg.N < 0 || per < 0 || cfg.N*per > MaxTorrentPeers {
		return nil, fmt.Errorf("swarmtest: %d torrents of %d peers: at most %d peers", cfg.N, per, MaxTorrentPeers)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = 1
	}
	var out []*Torrent
	type dhtPeer struct {
		addr netip.AddrPort
		hash metainfo.Hash
	}
	var toAnnounce []dhtPeer
	for j := range cfg.N {
		rng := rand.New(rand.NewPCG(seed, uint64(j)+1))
		t, err := s.newTorrent(fmt.Sprintf("swarmtest-%d", j), rng)
		if err != nil {
			return nil, err
		}
		useDHT := j < cfg.DHT && len(s.Nodes) > 0
		for i := range per {
			p := Peer{Addr: torrentPeerAddr(j*per + i), Swarms: []metainfo.Hash{t.InfoHash}}
			switch i % 4 {
			case 0:
				p.On = OnHTTP
			case 1:
				p.On = OnUDP
			case 2:
				p.On = OnDHT
			case 3:
				p.On = OnHTTP | OnUDP | OnDHT
			}
			if !useDHT {
				p.On &^= OnDHT
				if p.On == 0 {
					p.On = OnHTTP
				}
			}
			seeder := (i/4)%2 == 0
			if p.On&OnHTTP != 0 {
				s.HTTPServer.AddPeer(t.InfoHash, p.Addr, seeder)
			}
			if p.On&OnUDP != 0 {
				s.UDPServer.AddPeer(t.InfoHash, p.Addr, seeder)
			}
			if p.On&OnDHT != 0 {
				toAnnounce = append(toAnnounce, dhtPeer{p.Addr, t.InfoHash})
			}
			t.Peers = append(t.Peers, p)
		}
		out = append(out, t)
	}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, p := range toAnnounce {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.announceOne(ctx, p.addr, []metainfo.Hash{p.hash}); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("swarmtest: DHT announce of %v: %w", p.addr, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// torrentPeerAddr is the address of the k-th peer of AddTorrents:
// 127.1.0.1 upwards, skipping .0 and .255 of each /24, port 6881 + k%1000.
func torrentPeerAddr(k int) netip.AddrPort {
	b := 1<<16 + 1 + k + 2*(k/254)
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, byte(b >> 16), byte(b >> 8), byte(b)}), uint16(6881+k%1000))
}

// newTorrent makes a v1 torrent naming the swarm's trackers and DHT nodes.
func (s *Swarm) newTorrent(name string, rng *rand.Rand) (*Torrent, error) {
	nPieces := 1 + rng.IntN(4)
	pieces := make([]byte, 20*nPieces)
	for i := range pieces {
		pieces[i] = byte(rng.Uint32())
	}
	tf := torrentFile{
		Announce:     s.HTTPTracker,
		AnnounceList: [][]string{{s.HTTPTracker}, {s.UDPTracker}},
		CreatedBy:    "peerfind swarmtest",
		CreationDate: 1767225600,
		Info:         infoDict{Length: int64(nPieces)*pieceLength - int64(rng.IntN(pieceLength)), Name: name, PieceLength: pieceLength, Pieces: pieces},
	}
	for _, b := range s.Bootstrap {
		tf.Nodes = append(tf.Nodes, []any{b.Addr().String(), int64(b.Port())})
	}
	data, err := bencode.Marshal(tf)
	if err != nil {
		return nil, fmt.Errorf("swarmtest: encoding torrent %s: %w", name, err)
	}
	mi, err := metainfo.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("swarmtest: parsing torrent %s: %w", name, err)
	}
	return &Torrent{Torrent: data, MetaInfo: mi, InfoHash: mi.InfoHash}, nil
}
