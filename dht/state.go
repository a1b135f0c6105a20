package dht

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/peerfind/peerfind/bencode"
	"github.com/peerfind/peerfind/dht/internal/routing"
	"github.com/peerfind/peerfind/internal/compact"
)

// NodeInfo is a DHT node: its id and address.
type NodeInfo struct {
	ID   ID
	Addr netip.AddrPort
}

// State is what a node saves between runs to start warm: its id and the good
// nodes of its routing tables.
type State struct {
	ID    ID
	Nodes []NodeInfo // IPv4 and IPv6 nodes together
	Saved time.Time  // when the state was taken; zero → SaveState uses the time of saving
}

// maxStateSize is the largest state file LoadState reads and SaveState
// writes: 1 MiB, room for some 40,000 nodes, far more than the 2 × 160 × K a
// pair of routing tables can hold.
const maxStateSize = 1 << 20

// ErrBadState is wrapped by every LoadState error about a file's contents:
// corrupt, truncated, foreign, of an unknown version, or too big. The caller
// should warn and start cold.
var ErrBadState = errors.New("dht: bad state file")

// StateError is a state that ParseState or LoadState could not use. It
// wraps both ErrBadState and the specific cause (a *bencode.SyntaxError with
// its byte offset, a *compact.LengthError, ...).
type StateError struct {
	Path string // the file; "" from ParseState
	Err  error
}

// Error returns "dht: bad state file PATH: cause".
func (e *StateError) Error() string {
	if e.Path == "" {
		return "dht: bad state: " + e.Err.Error()
	}
	return "dht: bad state file " + e.Path + ": " + e.Err.Error()
}

// Unwrap returns ErrBadState and the cause.
func (e *StateError) Unwrap() []error { return []error{ErrBadState, e.Err} }

// The state file is a bencoded dict in our own format. The magic key tells
// our files from anything else that happens to be at the path; the version
// lets a later format be refused cleanly by this code.
const (
	stateMagic   = "peerfind dht state"
	stateVersion = 1
)

// stateFile is the bencoded form of State. Node lists use the compact node
// formats of BEP 5 ("nodes") and BEP 32 ("nodes6").
type stateFile struct {
	Magic   string `bencode:"magic"`
	Version int64  `bencode:"version"`
	ID      []byte `bencode:"id"`
	Saved   int64  `bencode:"saved"` // Unix seconds
	Nodes   []byte `bencode:"nodes,omitempty"`
	Nodes6  []byte `bencode:"nodes6,omitempty"`
}

// AppendState appends the bencoded form of s to b. Nodes whose address is
// unusable (invalid, port 0, unspecified, multicast) are left out. The
// encoding is canonical: the same State always yields the same bytes.
func AppendState(b []byte, s *State) ([]byte, error) {
	if s == nil {
		return b, errors.New("dht: nil state")
	}
	f := stateFile{Magic: stateMagic, Version: stateVersion, ID: s.ID[:], Saved: s.Saved.Unix()}
	for _, n := range s.Nodes {
		addr := netip.AddrPortFrom(n.Addr.Addr().Unmap(), n.Addr.Port())
		if !routing.Usable(addr) {
			continue
		}
		cn := compact.Node{ID: n.ID, Addr: addr}
		if addr.Addr().Is4() {
			f.Nodes = compact.AppendNode(f.Nodes, cn)
		} else {
			f.Nodes6 = compact.AppendNode(f.Nodes6, cn)
		}
	}
	data, err := bencode.Marshal(f)
	if err != nil {
		return b, fmt.Errorf("dht: encoding state: %w", err)
	}
	if len(b)+len(data) > maxStateSize {
		return b, fmt.Errorf("dht: state of %d nodes is %d bytes, over the %d-byte limit", len(s.Nodes), len(data), maxStateSize)
	}
	return append(b, data...), nil
}

// ParseState decodes a state encoded by AppendState. Errors are
// *StateError values describing the problem (with a byte offset where there
// is one) and wrapping ErrBadState.
func ParseState(data []byte) (*State, error) {
	bad := func(err error) (*State, error) { return nil, &StateError{Err: err} }
	if len(data) > maxStateSize {
		return bad(fmt.Errorf("%d bytes, over the %d-byte limit", len(data), maxStateSize))
	}
	// Look for the magic first, so that a foreign file (a .torrent, a
	// libtorrent session file) is reported as foreign, not as malformed.
	magic, ok, err := bencode.DictValue(data, "magic")
	if err != nil {
		return bad(err)
	}
	if !ok || string(magic) != fmt.Sprintf("%d:%s", len(stateMagic), stateMagic) {
		return bad(errors.New("not a peerfind DHT state file (no magic)"))
	}
	var f stateFile
	// Strict: we write canonical bencode, so unsorted keys mean corruption.
	if err := (bencode.DecodeOptions{Strict: true, MaxDepth: 4, MaxSize: maxStateSize}).Unmarshal(data, &f); err != nil {
		return bad(err)
	}
	if f.Version != stateVersion {
		return bad(fmt.Errorf("state version %d, this program reads version %d", f.Version, stateVersion))
	}
	if len(f.ID) != len(ID{}) {
		return bad(fmt.Errorf("node id of %d bytes, want 20", len(f.ID)))
	}
	if f.Saved < 0 {
		return bad(fmt.Errorf("saved time %d before 1970", f.Saved))
	}
	s := &State{ID: ID(f.ID), Saved: time.Unix(f.Saved, 0)}
	for _, list := range []struct {
		key   string
		b     []byte
		entry int
	}{{"nodes", f.Nodes, compact.NodeLen4}, {"nodes6", f.Nodes6, compact.NodeLen6}} {
		nodes, err := compact.ParseNodes(list.b, list.entry)
		if err != nil {
			return bad(fmt.Errorf("%q: %w", list.key, err))
		}
		for i, n := range nodes {
			addr := netip.AddrPortFrom(n.Addr.Addr().Unmap(), n.Addr.Port())
			if !routing.Usable(addr) || (list.entry == compact.NodeLen6) == addr.Addr().Is4() {
				return bad(fmt.Errorf("%q entry %d: unusable address %s", list.key, i, n.Addr))
			}
			s.Nodes = append(s.Nodes, NodeInfo{ID: n.ID, Addr: addr})
		}
	}
	return s, nil
}

// LoadState reads a state file written by SaveState. A missing file is an
// error wrapping fs.ErrNotExist; a corrupt, truncated, foreign, or too big
// one is a *StateError wrapping ErrBadState.
func LoadState(path string) (*State, error) {
	// A directory, FIFO or device at the path is no state of ours; opening
	// a FIFO would block until someone writes to it.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &StateError{Path: path, Err: fmt.Errorf("not a regular file (%v)", fi.Mode().Type())}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Read one byte past the limit to tell "exactly at" from "over" without
	// trusting the size from Stat (the file may be growing).
	data, err := io.ReadAll(io.LimitReader(f, maxStateSize+1))
	if err != nil {
		return nil, fmt.Errorf("dht: reading state: %w", err)
	}
	if len(data) > maxStateSize {
		return nil, &StateError{Path: path, Err: fmt.Errorf("over the %d-byte limit", maxStateSize)}
	}
	s, err := ParseState(data)
	if err != nil {
		var se *StateError
		if errors.As(err, &se) {
			se.Path = path
		}
		return nil, err
	}
	return s, nil
}

// SaveState writes s to path atomically: the data goes to a temporary file
// in the same directory, is synced to disk, and is renamed over path, so a
// crash leaves either the old file or the new one, never a torn one. The
// directory is created (mode 0700) if missing; the file has mode 0600. On
// failure no temporary file is left behind and an existing file at path is
// untouched. A zero s.Saved is replaced by the current time.
func SaveState(path string, s *State) error {
	if s != nil && s.Saved.IsZero() {
		c := *s
		c.Saved = time.Now()
		s = &c
	}
	data, err := AppendState(nil, s)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data)
}

// writeFileAtomic writes data to path by way of a synced temporary file in
// the same directory and a rename.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("dht: saving state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("dht: saving state: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("dht: saving state to %s: %w", path, err)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Sync the directory so the rename itself survives a crash; not every
	// system supports that, and the data is already safe, so failure here
	// is not reported.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
