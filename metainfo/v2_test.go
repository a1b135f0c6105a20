package metainfo

import (
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// merkle builds the BEP 52 tree of content the slow, obvious way: SHA-256 of
// each 16 KiB block, zero leaves up to a power of two, pairs hashed upwards.
// It returns the root and the layer whose hashes each cover pieceLength bytes.
func merkle(content []byte, pieceLength int) (root [32]byte, layer []byte) {
	var level [][32]byte
	for off := 0; off < len(content); off += blockSize {
		level = append(level, sha256.Sum256(content[off:min(off+blockSize, len(content))]))
	}
	pieces := (len(content) + pieceLength - 1) / pieceLength
	blocksPerPiece := pieceLength / blockSize
	n := 1
	for n < len(level) || n < blocksPerPiece {
		n *= 2
	}
	for len(level) < n {
		level = append(level, [32]byte{})
	}
	width := blockSize
	for len(level) > 1 {
		if width == pieceLength {
			for _, h := range level[:pieces] {
				layer = append(layer, h[:]...)
			}
		}
		next := make([][32]byte, len(level)/2)
		for i := range next {
			next[i] = sha256.Sum256(append(level[2*i][:], level[2*i+1][:]...))
		}
		level = next
		width *= 2
	}
	if layer == nil {
		layer = level[0][:]
	}
	return level[0], layer
}

// v2Torrent builds a v2-only torrent of one file of n random bytes.
func v2Torrent(t *testing.T, n, pieceLength int, corrupt func(layer []byte)) []byte {
	content := make([]byte, n)
	r := rand.New(rand.NewPCG(1, uint64(n)))
	for i := range content {
		content[i] = byte(r.Uint32())
	}
	root, layer := merkle(content, pieceLength)
	if corrupt != nil {
		corrupt(layer)
	}
	top := map[string]any{
		"info": map[string]any{
			"name":         "f.bin",
			"meta version": int64(2),
			"piece length": int64(pieceLength),
			"file tree": map[string]any{
				"f.bin": map[string]any{"": map[string]any{"length": int64(n), "pieces root": string(root[:])}},
			},
		},
	}
	if n > pieceLength {
		top["piece layers"] = map[string]any{string(root[:]): string(layer)}
	}
	return torrent(t, top)
}

func TestPieceLayers(t *testing.T) {
	tests := []struct {
		name        string
		n, pl       int
		wantPieces  int
		corrupt     func([]byte)
		wantErr     error
		errContains string
	}{
		{"one block", 100, 16 << 10, 1, nil, nil, ""},
		{"exactly one piece", 64 << 10, 64 << 10, 1, nil, nil, ""},
		{"3 pieces of 16 KiB", 40000, 16 << 10, 3, nil, nil, ""},
		{"5 pieces of 32 KiB, padded to 8", 5*(32<<10) - 7, 32 << 10, 5, nil, nil, ""},
		{"odd tail, 64 KiB pieces", 300000, 64 << 10, 5, nil, nil, ""},
		{"corrupt layer", 300000, 64 << 10, 0, func(l []byte) { l[40] ^= 1 }, ErrBadPieceLayers, "do not match the pieces root"},
		{"short layer", 300000, 64 << 10, 0, func(l []byte) { copy(l, l[32:]) }, ErrBadPieceLayers, "do not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(v2Torrent(t, tt.n, tt.pl, tt.corrupt))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errContains) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.errContains)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Info.NumPieces != tt.wantPieces || m.Info.TotalLength != int64(tt.n) || m.Info.MetaVersion != 2 || !m.InfoHash.IsZero() || m.InfoHashV2.IsZero() {
				t.Errorf("info %+v, hashes %v %v", m.Info, m.InfoHash, m.InfoHashV2)
			}
			if got := m.SwarmHashes(); len(got) != 1 || got[0] != m.InfoHashV2.Truncate() {
				t.Errorf("SwarmHashes = %v", got)
			}
		})
	}
}

func TestFileTreeErrors(t *testing.T) {
	root := strings.Repeat("r", 32)
	file := func(n int64) map[string]any {
		return map[string]any{"": map[string]any{"length": n, "pieces root": root}}
	}
	tests := []struct {
		name string
		tree any
		err  error
		msg  string
	}{
		{"root is a file", file(1), ErrBadFileTree, "info.file tree: the root is a file"},
		{"file with sibling", map[string]any{"a": map[string]any{"": map[string]any{"length": int64(1), "pieces root": root}, "b": file(1)}}, ErrBadFileTree, "info.file tree.a: a file node has other entries"},
		{"leaf not a dict", map[string]any{"a": int64(1)}, ErrBadFileTree, "info.file tree.a: not a dictionary"},
		{"no pieces root", map[string]any{"a": map[string]any{"": map[string]any{"length": int64(5)}}}, ErrMissingPiecesRoot, "info.file tree.a.pieces root: missing"},
		{"short pieces root", map[string]any{"a": map[string]any{"": map[string]any{"length": int64(5), "pieces root": "x"}}}, ErrMissingPiecesRoot, "length 1, want 32"},
		{"negative length", map[string]any{"a": file(-1)}, ErrBadLength, "info.file tree.a.length: length -1 is negative"},
		{"pad file", map[string]any{"a": map[string]any{"": map[string]any{"length": int64(1), "attr": "p", "pieces root": root}}}, ErrBadFileTree, "pad file"},
		{"empty", map[string]any{}, ErrNoFiles, "no files"},
		{"empty directory", map[string]any{"d": map[string]any{}}, ErrBadFileTree, "empty directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := torrent(t, map[string]any{"info": map[string]any{
				"name": "x", "meta version": int64(2), "piece length": int64(16384), "file tree": tt.tree,
			}})
			_, err := Parse(data)
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want %v containing %q", err, tt.err, tt.msg)
			}
		})
	}
}

func TestHybridMismatch(t *testing.T) {
	root := strings.Repeat("r", 32)
	info := map[string]any{
		"name": "x", "meta version": int64(2), "piece length": int64(16384),
		"file tree": map[string]any{
			"a": map[string]any{"": map[string]any{"length": int64(10), "pieces root": root}},
			"b": map[string]any{"": map[string]any{"length": int64(10), "pieces root": root}},
		},
		"pieces": strings.Repeat("p", 40),
		"files": []any{
			map[string]any{"length": int64(10), "path": []any{"a"}},
			map[string]any{"length": int64(16374), "path": []any{".pad", "16374"}, "attr": "p"},
			map[string]any{"length": int64(10), "path": []any{"b"}},
		},
	}
	if _, err := Parse(torrent(t, map[string]any{"info": info})); err != nil {
		t.Fatalf("aligned hybrid rejected: %v", err)
	}
	unaligned := with(info, "pieces", strings.Repeat("p", 20), "files", []any{
		map[string]any{"length": int64(10), "path": []any{"a"}},
		map[string]any{"length": int64(10), "path": []any{"b"}},
	})
	if _, err := Parse(torrent(t, map[string]any{"info": unaligned})); !errors.Is(err, ErrInconsistentFiles) || !strings.Contains(err.Error(), "info.files[1]: starts at offset 10") {
		t.Errorf("unaligned: %v", err)
	}
	renamed := with(info, "files", []any{
		map[string]any{"length": int64(10), "path": []any{"a"}},
		map[string]any{"length": int64(16374), "path": []any{".pad", "16374"}, "attr": "p"},
		map[string]any{"length": int64(10), "path": []any{"c"}},
	})
	if _, err := Parse(torrent(t, map[string]any{"info": renamed})); !errors.Is(err, ErrInconsistentFiles) || !strings.Contains(err.Error(), `"c" (10 bytes) differs from v2 file "b"`) {
		t.Errorf("renamed: %v", err)
	}
}
