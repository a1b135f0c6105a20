// Package swarmtest runs a whole BitTorrent swarm in-process on loopback:
// an HTTP tracker, a UDP tracker, a Mainline DHT of many nodes, and peers of
// a generated torrent announced to some of them. It is what peerfind's
// end-to-end tests, benchmarks and offline demo search, and library users can
// search it in their own tests:
//
//	sw, err := swarmtest.Start(ctx, swarmtest.Config{})
//	if err != nil { ... }
//	defer sw.Close()
//	// sw.Torrent is a .torrent naming sw.HTTPTracker, sw.UDPTracker and
//	// sw.Bootstrap; sw.Peers says who was announced where.
//
// Peers are addresses, not listening sockets: 127.0.1.x:port, each distinct.
// Peers on the DHT are announced for real: a short-lived DHT node bound to
// the peer's IP sends announce_peer (BEP 5) to the nodes closest to the info
// hash, so a lookup finds them exactly as it would on the Internet. DHT nodes
// live on 127.0.2.1 upwards, one IP per node, which Linux routes to
// loopback without configuration.
package swarmtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/peerfind/peerfind/bencode"
	"github.com/peerfind/peerfind/dht"
	"github.com/peerfind/peerfind/magnet"
	"github.com/peerfind/peerfind/metainfo"
	"github.com/peerfind/peerfind/tracker"
)

// Defaults of Config.
const (
	DefaultNodes = 64
	DefaultPeers = 36
	// MaxNodes and MaxPeers bound a swarm by the loopback addresses it uses.
	MaxNodes = 1500
	MaxPeers = 250
)

// Config describes a swarm. The zero value is a small public swarm.
type Config struct {
	// Nodes is the number of DHT nodes. If zero, DefaultNodes; negative
	// means no DHT (peers meant for it go to the trackers only).
	Nodes int
	// Peers is the number of peers. If zero, DefaultPeers. Peer i is
	// announced by kind i%4: 0 the HTTP tracker only, 1 the UDP tracker
	// only, 2 the DHT only, 3 both trackers and the DHT.
	Peers int
	// Name is the torrent's name. If empty, "swarmtest".
	Name string
	// Private marks the torrent private (BEP 27).
	Private bool
	// IPv6Peers adds that many IPv6 peers, [::1] with distinct ports,
	// announced to the HTTP tracker only (compact "peers6", BEP 7).
	IPv6Peers int
	// Hybrid makes a hybrid v1+v2 torrent (BEP 52), whose peers are split
	// across its two swarms: peer i is announced under the v1 info hash
	// unless i%3 == 2, and under the truncated v2 hash unless i%3 == 0.
	Hybrid bool
	// Seed makes the torrent's content and the node ids reproducible. If
	// zero, 1.
	Seed uint64
	// TrackerInterval is the trackers' announce interval. If zero, the
	// tracker.Server default.
	TrackerInterval, TrackerMinInterval time.Duration
}

// Where a peer was announced.
const (
	OnHTTP = 1 << iota
	OnUDP
	OnDHT
)

// Peer is one peer of the swarm.
type Peer struct {
	Addr   netip.AddrPort
	On     int             // OnHTTP | OnUDP | OnDHT
	Swarms []metainfo.Hash // the swarm keys it was announced under
}

// Swarm is a running local swarm. Close stops it.
type Swarm struct {
	// Torrent is the generated .torrent file, made with bencode.Marshal.
	Torrent []byte
	// MetaInfo is Torrent parsed by metainfo.Parse.
	MetaInfo *metainfo.MetaInfo
	// InfoHash is the swarm's key: the v1 info hash (BEP 3).
	InfoHash metainfo.Hash
	// InfoHashV2 is the v2 swarm's key (the SHA-256 info hash truncated,
	// BEP 52) of a hybrid torrent; zero otherwise.
	InfoHashV2 metainfo.Hash
	// HTTPTracker and UDPTracker are the announce URLs of the trackers.
	HTTPTracker, UDPTracker string
	// Bootstrap are a few DHT nodes to start from (also in the torrent's
	// "nodes"); empty without a DHT.
	Bootstrap []netip.AddrPort
	// Peers lists every peer and where it was announced.
	Peers []Peer
	// HTTPServer and UDPServer are the two trackers' state.
	HTTPServer, UDPServer *tracker.Server
	// Nodes are the DHT nodes.
	Nodes []*dht.Node
	// AnnounceDuration is how long the DHT announces took during Start.
	AnnounceDuration time.Duration

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	httpSrv *http.Server
	udpConn net.PacketConn
}

// nodeAddr is the loopback IP of DHT node i: 127.0.2.1 onwards, skipping
// .0 and .255 of each /24.
func nodeAddr(i int) netip.Addr {
	b := 2*256 + 1 + i + 2*(i/254) // 254 usable addresses per /24
	return netip.AddrFrom4([4]byte{127, byte(b >> 16), byte(b >> 8), byte(b)})
}

// peerAddr is the address of peer i: 127.0.1.(i+1), port 6881+i.
func peerAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 1, byte(i + 1)}), uint16(6881+i))
}

// Start builds and starts a swarm; ctx bounds the start only (the DHT
// bootstrap and the announces), not the swarm's life.
func Start(ctx context.Context, cfg Config) (s *Swarm, err error) {
	nNodes, nPeers := cfg.Nodes, cfg.Peers
	if nNodes == 0 {
		nNodes = DefaultNodes
	}
	if nNodes < 0 {
		nNodes = 0
	}
	if nPeers == 0 {
		nPeers = DefaultPeers
	}
	if nNodes > MaxNodes || nPeers > MaxPeers || nPeers < 0 || cfg.IPv6Peers < 0 || cfg.IPv6Peers > MaxPeers {
		return nil, fmt.Errorf("swarmtest: %d nodes and %d peers: at most %d and %d", nNodes, nPeers, MaxNodes, MaxPeers)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = 1
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	s = &Swarm{
		HTTPServer: &tracker.Server{Interval: cfg.TrackerInterval, MinInterval: cfg.TrackerMinInterval},
		UDPServer:  &tracker.Server{Interval: cfg.TrackerInterval, MinInterval: cfg.TrackerMinInterval},
	}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	var lctx context.Context
	lctx, s.cancel = context.WithCancel(context.Background())
	if err := s.startTrackers(lctx); err != nil {
		return s, err
	}
	if err := s.startDHT(ctx, nNodes, rng); err != nil {
		return s, err
	}
	if err := s.makeTorrent(cfg, rng); err != nil {
		return s, err
	}
	for i := range nPeers {
		p := Peer{Addr: peerAddr(i), Swarms: []metainfo.Hash{s.InfoHash}}
		if cfg.Hybrid {
			switch i % 3 {
			case 0:
				p.Swarms = []metainfo.Hash{s.InfoHash}
			case 1:
				p.Swarms = []metainfo.Hash{s.InfoHash, s.InfoHashV2}
			case 2:
				p.Swarms = []metainfo.Hash{s.InfoHashV2}
			}
		}
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
		if nNodes == 0 {
			p.On &^= OnDHT
			if p.On == 0 {
				p.On = OnHTTP // no DHT: keep every peer findable
			}
		}
		// Every other peer of each placement is a seeder: the placement
		// cycles every 4 peers, so the seeder flag cycles every 8, or
		// the UDP tracker (odd indexes only) would hold no seeders.
		seeder := (i/4)%2 == 0
		for _, h := range p.Swarms {
			if p.On&OnHTTP != 0 {
				s.HTTPServer.AddPeer(h, p.Addr, seeder)
			}
			if p.On&OnUDP != 0 {
				s.UDPServer.AddPeer(h, p.Addr, seeder)
			}
		}
		s.Peers = append(s.Peers, p)
	}
	for i := range cfg.IPv6Peers {
		p := Peer{Addr: netip.AddrPortFrom(netip.IPv6Loopback(), uint16(16881+i)), On: OnHTTP, Swarms: []metainfo.Hash{s.InfoHash}}
		s.HTTPServer.AddPeer(s.InfoHash, p.Addr, false)
		s.Peers = append(s.Peers, p)
	}
	if nNodes > 0 {
		if err := s.announceDHT(ctx); err != nil {
			return s, err
		}
	}
	return s, nil
}

func (s *Swarm) startTrackers(ctx context.Context) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("swarmtest: HTTP tracker: %w", err)
	}
	s.HTTPTracker = "http://" + ln.Addr().String() + "/announce"
	s.httpSrv = &http.Server{Handler: s.HTTPServer, ReadHeaderTimeout: 5 * time.Second}
	s.wg.Go(func() { s.httpSrv.Serve(ln) })

	s.udpConn, err = net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("swarmtest: UDP tracker: %w", err)
	}
	s.UDPTracker = "udp://" + s.udpConn.LocalAddr().String()
	s.wg.Go(func() { s.UDPServer.ServeUDP(ctx, s.udpConn) })
	return nil
}

// nodeConfig is the configuration of every node of the swarm: loopback
// addresses share subnets and cannot carry BEP 42 ids, and the whole DHT
// runs on one machine, so the limits meant for the Internet are lifted.
func nodeConfig(conn net.PacketConn, id dht.ID, boot []netip.AddrPort) dht.Config {
	return dht.Config{
		Conn4:            conn,
		ID:               id,
		BootstrapNodes:   boot,
		BootstrapRouters: []string{},
		BEP42:            dht.BEP42Off,
		QueryRate:        -1,
		ReplyRate:        -1,
	}
}

func randomID(rng *rand.Rand) dht.ID {
	var id dht.ID
	for i := range id {
		id[i] = byte(rng.Uint32())
	}
	return id
}

// startDHT starts n nodes and bootstraps them, each from a few earlier ones,
// so that the tables fill as real ones do: by lookups, not by fiat.
func (s *Swarm) startDHT(ctx context.Context, n int, rng *rand.Rand) error {
	if n == 0 {
		return nil
	}
	addrs := make([]netip.AddrPort, n)
	for i := range n {
		conn, err := net.ListenPacket("udp4", netip.AddrPortFrom(nodeAddr(i), 0).String())
		if err != nil {
			return fmt.Errorf("swarmtest: DHT node %d: %w", i, err)
		}
		addrs[i] = conn.LocalAddr().(*net.UDPAddr).AddrPort()
		var boot []netip.AddrPort
		for j := max(0, i-4); j < i; j++ {
			boot = append(boot, addrs[j])
		}
		if i == 0 && n > 1 {
			boot = nil // the first node learns the others as they bootstrap from it
		}
		nd, err := dht.New(nodeConfig(conn, randomID(rng), boot))
		if err != nil {
			conn.Close()
			return fmt.Errorf("swarmtest: DHT node %d: %w", i, err)
		}
		s.Nodes = append(s.Nodes, nd)
	}
	s.Bootstrap = addrs[:min(4, n)]
	// Bootstrap in waves: every node looks itself up starting from the
	// nodes before it, a few at a time.
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, nd := range s.Nodes[1:] {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, errs[i+1] = nd.Bootstrap(ctx)
		})
	}
	wg.Wait()
	if n > 1 {
		// The first node bootstraps last, from its now well-known peers.
		for _, a := range addrs[1:min(9, n)] {
			s.Nodes[0].AddNode(a)
		}
		_, errs[0] = s.Nodes[0].Bootstrap(ctx)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("swarmtest: DHT bootstrap: %w", err)
	}
	failed := 0
	var first error
	for _, e := range errs {
		if e != nil {
			failed++
			if first == nil {
				first = e
			}
		}
	}
	if failed > n/10 {
		return fmt.Errorf("swarmtest: DHT bootstrap failed on %d of %d nodes: %w", failed, n, first)
	}
	return nil
}

// announceDHT announces every DHT peer for real, from a node bound to the
// peer's IP: BEP 5 nodes store the announcing packet's source IP.
func (s *Swarm) announceDHT(ctx context.Context) error {
	t0 := time.Now()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, p := range s.Peers {
		if p.On&OnDHT == 0 {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.announceOne(ctx, p.Addr, p.Swarms); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("swarmtest: DHT announce of %v: %w", p.Addr, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	s.AnnounceDuration = time.Since(t0)
	return errors.Join(errs...)
}

func (s *Swarm) announceOne(ctx context.Context, peer netip.AddrPort, swarms []metainfo.Hash) error {
	conn, err := net.ListenPacket("udp4", netip.AddrPortFrom(peer.Addr(), 0).String())
	if err != nil {
		return err
	}
	var seed [32]byte
	copy(seed[:], peer.Addr().AsSlice())
	cfg := nodeConfig(conn, randomID(rand.New(rand.NewChaCha8(seed))), s.Bootstrap)
	cfg.ReadOnly = true // BEP 43: it leaves at once; keep it out of the tables
	nd, err := dht.New(cfg)
	if err != nil {
		conn.Close()
		return err
	}
	defer nd.Close()
	if _, err := nd.Bootstrap(ctx); err != nil {
		return err
	}
	for _, h := range swarms {
		// A loaded machine (tests under -race on two cores) can make a
		// query time out; a real peer re-announces, and so does this one.
		for try := 1; ; try++ {
			_, err := nd.Announce(ctx, h, peer.Port(), false)
			if err == nil {
				break
			}
			if try == announceTries || ctx.Err() != nil {
				return fmt.Errorf("swarm %v: %w", h, err)
			}
		}
	}
	return nil
}

// announceTries bounds the announces of one peer to one swarm.
const announceTries = 3

// torrentFile is the .torrent as written (BEP 3, BEP 12, BEP 5 "nodes").
type torrentFile struct {
	Announce     string     `bencode:"announce"`
	AnnounceList [][]string `bencode:"announce-list"`
	CreatedBy    string     `bencode:"created by"`
	CreationDate int64      `bencode:"creation date"`
	Info         infoDict   `bencode:"info"`
	Nodes        [][]any    `bencode:"nodes,omitempty"`
}

type infoDict struct {
	Length      int64  `bencode:"length"`
	Name        string `bencode:"name"`
	PieceLength int64  `bencode:"piece length"`
	Pieces      []byte `bencode:"pieces"`
	Private     int    `bencode:"private,omitempty"`
	// BEP 52 keys of a hybrid torrent.
	FileTree    map[string]any `bencode:"file tree,omitempty"`
	MetaVersion int            `bencode:"meta version,omitempty"`
}

const pieceLength = 1 << 14

func (s *Swarm) makeTorrent(cfg Config, rng *rand.Rand) error {
	name := cfg.Name
	if name == "" {
		name = "swarmtest"
	}
	nPieces := 4 + rng.IntN(8)
	pieces := make([]byte, 20*nPieces)
	for i := range pieces {
		pieces[i] = byte(rng.Uint32())
	}
	tf := torrentFile{
		Announce:     s.HTTPTracker,
		AnnounceList: [][]string{{s.HTTPTracker}, {s.UDPTracker}},
		CreatedBy:    "peerfind swarmtest",
		CreationDate: 1767225600, // fixed, so the torrent depends on Config only
		Info:         infoDict{Length: int64(nPieces)*pieceLength - int64(rng.IntN(pieceLength)), Name: name, PieceLength: pieceLength, Pieces: pieces},
	}
	if cfg.Private {
		tf.Info.Private = 1
	}
	if cfg.Hybrid {
		// One file, the v1 single file, described again as a v2 file tree.
		// Its pieces root would be the Merkle root of the content; the
		// content is imaginary, so any non-zero 32 bytes do. Piece layers
		// may be omitted (BEP 52 clients fetch them from peers).
		root := make([]byte, 32)
		for i := range root {
			root[i] = byte(rng.Uint32()) | 1
		}
		tf.Info.MetaVersion = 2
		tf.Info.FileTree = map[string]any{name: map[string]any{"": map[string]any{"length": tf.Info.Length, "pieces root": root}}}
	}
	for _, b := range s.Bootstrap {
		tf.Nodes = append(tf.Nodes, []any{b.Addr().String(), int64(b.Port())})
	}
	data, err := bencode.Marshal(tf)
	if err != nil {
		return fmt.Errorf("swarmtest: encoding the torrent: %w", err)
	}
	mi, err := metainfo.Parse(data)
	if err != nil {
		return fmt.Errorf("swarmtest: parsing the generated torrent: %w", err)
	}
	s.Torrent, s.MetaInfo, s.InfoHash = data, mi, mi.InfoHash
	if cfg.Hybrid {
		if mi.InfoHashV2.IsZero() {
			return errors.New("swarmtest: the hybrid torrent parsed without a v2 info hash")
		}
		s.InfoHashV2 = mi.InfoHashV2.Truncate()
	}
	return nil
}

// Magnet returns a magnet link for the swarm naming both trackers, but no
// DHT node (magnet links have none).
func (s *Swarm) Magnet() string {
	return magnet.FromMetaInfo(s.MetaInfo).String()
}

// WriteTorrent writes the torrent into dir and returns its path.
func (s *Swarm) WriteTorrent(dir string) (string, error) {
	p := filepath.Join(dir, s.MetaInfo.Info.Name+".torrent")
	return p, os.WriteFile(p, s.Torrent, 0o644)
}

// PeersOn returns the peers announced on any of the places in mask.
func (s *Swarm) PeersOn(mask int) []netip.AddrPort {
	var out []netip.AddrPort
	for _, p := range s.Peers {
		if p.On&mask != 0 {
			out = append(out, p.Addr)
		}
	}
	return out
}

// Close stops the trackers and every DHT node, and waits for them.
func (s *Swarm) Close() error {
	var errs []error
	for _, n := range s.Nodes {
		errs = append(errs, n.Close())
	}
	if s.httpSrv != nil {
		errs = append(errs, s.httpSrv.Close())
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.udpConn != nil {
		s.udpConn.Close()
	}
	s.wg.Wait()
	return errors.Join(errs...)
}
