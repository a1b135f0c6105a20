package dht

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"io/fs"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerfind/peerfind/bencode"
	"github.com/peerfind/peerfind/dht/internal/nodeid"
	"github.com/peerfind/peerfind/dht/internal/routing"
	"github.com/peerfind/peerfind/internal/compact"
	"github.com/peerfind/peerfind/metainfo"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// sampleState is a state with nodes of both families, one of them with a
// BEP 42-conforming id.
func sampleState() *State {
	v4 := netip.MustParseAddr("124.31.75.21")
	vid, _ := ParseID("5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401") // BEP 42 test vector 1
	return &State{
		ID:    ID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20},
		Saved: time.Unix(1700000000, 0),
		Nodes: []NodeInfo{
			{ID: vid, Addr: netip.AddrPortFrom(v4, 6881)},
			{ID: ID{0xaa}, Addr: netip.MustParseAddrPort("[2001:db8::1]:51413")},
			{ID: ID{0xbb}, Addr: netip.MustParseAddrPort("10.0.0.2:1")},
			{ID: ID{0xcc}, Addr: netip.MustParseAddrPort("[2a00:1450:4001::5]:6881")},
		},
	}
}

// sortNodes orders nodes by address so states compare regardless of the
// family split in the file.
func sortNodes(n []NodeInfo) []NodeInfo {
	n = slices.Clone(n)
	slices.SortFunc(n, func(a, b NodeInfo) int { return a.Addr.Compare(b.Addr) })
	return n
}

func equalStates(a, b *State) bool {
	return a.ID == b.ID && a.Saved.Equal(b.Saved) && slices.Equal(sortNodes(a.Nodes), sortNodes(b.Nodes))
}

func TestStateRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, "dht.state")
	want := sampleState()
	if err := SaveState(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if !equalStates(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, %v; want 0600", fi.Mode(), err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, %v; want 0700", fi.Mode(), err)
	}
	// Save over it again: the directory holds just the one file.
	want.Nodes = want.Nodes[:1]
	if err := SaveState(path, want); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadState(path); err != nil || !equalStates(got, want) {
		t.Errorf("after overwrite: %+v, %v", got, err)
	}
	assertOnlyFile(t, dir, "dht.state")

	// An empty state and a state with a zero Saved time.
	empty := &State{ID: ID{9}}
	if err := SaveState(path, empty); err != nil {
		t.Fatal(err)
	}
	got, err = LoadState(path)
	if err != nil || got.ID != empty.ID || len(got.Nodes) != 0 || time.Since(got.Saved) > time.Hour {
		t.Errorf("empty state: %+v, %v", got, err)
	}
}

// assertOnlyFile checks that dir holds exactly the named entries (no
// temporary files left behind).
func assertOnlyFile(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

func TestStateGolden(t *testing.T) {
	// The format on disk is fixed: a later version of this code must still
	// read files written by this one.
	s := sampleState()
	got, err := AppendState(nil, s)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "state_v1.bencode")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("AppendState:\n got %q\nwant %q", got, want)
	}
	// Its shape: canonical bencode with our magic, version 1, and the
	// compact node lists of BEP 5 and BEP 32.
	if !bytes.HasPrefix(want, []byte("d2:id20:")) || !bytes.Contains(want, []byte("5:magic18:peerfind dht state")) ||
		!bytes.Contains(want, []byte("7:versioni1ee")) {
		t.Errorf("unexpected layout %q", want)
	}
	if raw, ok, _ := bencode.DictValue(want, "nodes6"); !ok || !bytes.HasPrefix(raw, []byte("76:")) {
		t.Errorf("nodes6 = %q, want two 38-byte entries", raw)
	}
	loaded, err := LoadState(golden)
	if err != nil || !equalStates(loaded, s) {
		t.Errorf("LoadState(golden) = %+v, %v", loaded, err)
	}
}

// encodeStateFile bencodes f, for building bad files.
func encodeStateFile(t testing.TB, f any) []byte {
	b, err := bencode.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// trackerlessTorrent is a torrent of the repository's corpus (see
// testdata/corpus/README.md).
const trackerlessTorrent = "../testdata/corpus/anacrolix-torrent/metainfo/testdata/trackerless.torrent"

func TestLoadStateBad(t *testing.T) {
	good, err := AppendState(nil, sampleState())
	if err != nil {
		t.Fatal(err)
	}
	// A real .torrent is a well-formed bencoded dict that is not a state file.
	torrent, err := os.ReadFile(trackerlessTorrent)
	if err != nil {
		t.Fatal(err)
	}
	base := func() stateFile {
		return stateFile{Magic: stateMagic, Version: stateVersion, ID: make([]byte, 20), Saved: 1}
	}
	mod := func(f func(*stateFile)) []byte {
		s := base()
		f(&s)
		return encodeStateFile(t, s)
	}
	tests := []struct {
		name string
		data []byte
		want string // in the error message
	}{
		{"empty", nil, "offset 0"},
		{"text", []byte("hello world\n"), "offset 0"},
		{"json", []byte(`{"id":"x"}`), "offset 0"},
		{"foreign torrent", torrent, "no magic"},
		{"foreign dict", []byte("d1:ai1ee"), "no magic"},
		{"list", []byte("l5:magic18:peerfind dht statee"), "not a dict"},
		{"truncated", good[:len(good)/2], "offset"},
		{"trailing", append(slices.Clone(good), 'x'), "trailing"},
		{"unsorted keys", []byte("d5:magic18:peerfind dht state2:id20:aaaaaaaaaaaaaaaaaaaa5:savedi1e7:versioni1ee"), "sorted"},
		{"wrong magic", mod(func(s *stateFile) { s.Magic = "peerfind dht stat" }), "no magic"},
		{"future version", mod(func(s *stateFile) { s.Version = 2 }), "version 2"},
		{"no version", mod(func(s *stateFile) { s.Version = 0 }), "version 0"},
		{"short id", mod(func(s *stateFile) { s.ID = s.ID[:19] }), "19 bytes"},
		{"negative time", mod(func(s *stateFile) { s.Saved = -5 }), "before 1970"},
		{"nodes length", mod(func(s *stateFile) { s.Nodes = make([]byte, 27) }), "multiple of 26"},
		{"nodes6 length", mod(func(s *stateFile) { s.Nodes6 = make([]byte, 39) }), "multiple of 38"},
		{"port zero", mod(func(s *stateFile) {
			s.Nodes = compact.AppendNode(nil, compact.Node{Addr: netip.MustParseAddrPort("1.2.3.4:0")})
		}), "entry 0"},
		{"v4 in nodes6", mod(func(s *stateFile) {
			s.Nodes6 = compact.AppendNode(nil, compact.Node{Addr: netip.MustParseAddrPort("[::ffff:1.2.3.4]:5")})
		}), "nodes6"},
		{"id not a string", []byte("d2:idi5e5:magic18:peerfind dht state5:savedi1e7:versioni1ee"), "id"},
		{"oversized", append(append([]byte("d5:magic18:peerfind dht state5:nodes"), []byte("1048600:")...), make([]byte, maxStateSize)...), "limit"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := LoadState(path)
			if err == nil {
				t.Fatalf("LoadState accepted it: %+v", s)
			}
			if !errors.Is(err, ErrBadState) {
				t.Errorf("error %v does not wrap ErrBadState", err)
			}
			var se *StateError
			if !errors.As(err, &se) || se.Path != path {
				t.Errorf("error %v is not a *StateError naming the path", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not mention %q and the path", err, tt.want)
			}
		})
	}
}

func TestLoadStateEveryTruncation(t *testing.T) {
	good, err := AppendState(nil, sampleState())
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(good) {
		if s, err := ParseState(good[:i]); err == nil || !errors.Is(err, ErrBadState) {
			t.Fatalf("ParseState(first %d of %d bytes) = %+v, %v", i, len(good), s, err)
		}
	}
}

func TestLoadStateMissing(t *testing.T) {
	_, err := LoadState(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrBadState) {
		t.Errorf("missing file: %v", err)
	}
	// A directory is not a state file.
	dir := t.TempDir()
	if _, err := LoadState(dir); !errors.Is(err, ErrBadState) || !strings.Contains(err.Error(), "regular") {
		t.Errorf("directory: %v", err)
	}
}

func TestSaveStateFailureLeavesOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dht.state")
	old := sampleState()
	if err := SaveState(path, old); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	// Too big to save: refused before anything is written.
	huge := &State{Saved: time.Unix(1, 0)}
	for i := range maxStateSize/compact.NodeLen4 + 1 {
		huge.Nodes = append(huge.Nodes, NodeInfo{ID: ID{byte(i)}, Addr: testAddr(i)})
	}
	if err := SaveState(path, huge); err == nil {
		t.Fatalf("oversized state saved")
	}
	if err := SaveState(path, nil); err == nil {
		t.Fatalf("nil state saved")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Errorf("failed save changed the old file")
	}
	assertOnlyFile(t, dir, "dht.state")

	// The rename fails (path is a non-empty directory) after the data was
	// written and synced: the temporary file is removed.
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	err := SaveState(blocked, old)
	if err == nil {
		t.Fatalf("save over a directory succeeded")
	}
	if !strings.Contains(err.Error(), blocked) {
		t.Errorf("error %q does not name the path", err)
	}
	assertOnlyFile(t, dir, "blocked", "dht.state")
	assertOnlyFile(t, blocked, "x")

	// The directory cannot be created (a file is in the way).
	if err := SaveState(filepath.Join(path, "sub", "state"), old); err == nil {
		t.Errorf("save below a regular file succeeded")
	}
}

func TestSaveStateSkipsUnusableNodes(t *testing.T) {
	s := &State{ID: ID{1}, Saved: time.Unix(5, 0), Nodes: []NodeInfo{
		{ID: ID{2}, Addr: netip.AddrPort{}},
		{ID: ID{3}, Addr: netip.MustParseAddrPort("1.2.3.4:0")},
		{ID: ID{4}, Addr: netip.MustParseAddrPort("[::ffff:1.2.3.4]:7")},
	}}
	b, err := AppendState(nil, s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseState(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []NodeInfo{{ID: ID{4}, Addr: netip.MustParseAddrPort("1.2.3.4:7")}}
	if !slices.Equal(got.Nodes, want) {
		t.Errorf("Nodes = %v, want %v", got.Nodes, want)
	}
}

func FuzzLoadState(f *testing.F) {
	good, err := AppendState(nil, sampleState())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte("d5:magic18:peerfind dht statee"))
	// Found by the fuzzer: no "saved" key, so the re-encoding is longer.
	f.Add([]byte("d2:id20:000000000000000000005:magic18:peerfind dht state7:versioni1ee"))
	f.Add([]byte("d2:id20:aaaaaaaaaaaaaaaaaaaa5:magic18:peerfind dht state5:nodes26:aaaaaaaaaaaaaaaaaaaa\x01\x02\x03\x04\x00\x015:savedi0e7:versioni1ee"))
	tor, err := os.ReadFile(trackerlessTorrent)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tor)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseState(data)
		if err != nil {
			if !errors.Is(err, ErrBadState) {
				t.Fatalf("error %v does not wrap ErrBadState", err)
			}
			return
		}
		// Whatever parses re-encodes to a state that parses the same.
		b, err := AppendState(nil, s)
		if err != nil {
			t.Fatalf("AppendState of a parsed state: %v", err)
		}
		s2, err := ParseState(b)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !equalStates(s, s2) {
			t.Fatalf("round trip changed the state:\n%+v\n%+v", s, s2)
		}
	})
}

func BenchmarkLoadState(b *testing.B) {
	s := &State{ID: ID{1}, Saved: time.Unix(1, 0)}
	for i := range 2 * 160 * routing.K {
		s.Nodes = append(s.Nodes, NodeInfo{ID: nodeid.Random(nil), Addr: testAddr(i)})
	}
	data, err := AppendState(nil, s)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseState(data); err != nil {
			b.Fatal(err)
		}
	}
}

// A saved state keeps the nodes that answered recently, not only the
// table's: the table holds few nodes far from our id, where targets lie,
// so a warm start must remember the nodes met near earlier targets.
func TestStateKeepsRecentContacts(t *testing.T) {
	nodes := buildNetwork(t, 200, 7)
	cfg := testConfig(99)
	cfg.Conn4 = listenUDP(t, "127.21.0.1")
	cfg.BootstrapNodes = []netip.AddrPort{nodeAddr(t, nodes[0])}
	n := newTestNode(t, "127.21.0.1", cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := rand.New(rand.NewPCG(3, 3))
	var targets []ID
	for range 3 {
		var ih metainfo.Hash
		for i := range ih {
			ih[i] = byte(r.UintN(256))
		}
		if _, err := n.GetPeers(ctx, ih, nil); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, ID(ih))
	}
	st := n.State()
	good := len(n.tables[0].Load().Good())
	if len(st.Nodes) <= good || len(st.Nodes) > maxContacts {
		t.Errorf("state holds %d nodes, table %d good; want more than the table, at most %d", len(st.Nodes), good, maxContacts)
	}
	saved := map[netip.AddrPort]bool{}
	for _, ni := range st.Nodes {
		saved[ni.Addr] = true
	}
	for _, target := range targets {
		// Nodes near each target answered the lookup and are saved: at
		// least one of the network's 8 closest (under load a slow one may
		// be passed over, but not all of them).
		all := slices.Clone(nodes)
		slices.SortFunc(all, func(a, b *Node) int { return nodeid.CompareDistance(target, a.ID(), b.ID()) })
		near := 0
		for _, c := range all[:8] {
			if saved[nodeAddr(t, c)] {
				near++
			}
		}
		if near == 0 {
			t.Errorf("target %v: none of its 8 closest nodes is in the saved state", target)
		}
	}
}

// testAddr returns a distinct global IPv4 address for each i.
func testAddr(i int) netip.AddrPort {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], 0x0b000000+uint32(i)) // 11.0.0.0 + i
	return netip.AddrPortFrom(netip.AddrFrom4(a), 6881)
}
