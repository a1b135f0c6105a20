package metainfo

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"strings"

	"github.com/peerfind/peerfind/bencode"
)

// blockSize is the leaf size of the v2 merkle trees (BEP 52).
const blockSize = 16 << 10

// fileTree reads the v2 "file tree" of the info dictionary whose raw bytes
// are info (BEP 52). The tree is decoded again from its own bytes in strict
// mode: its dict keys are file names whose order is the file order, so
// unsorted keys there make the file order ambiguous, and libtorrent rejects
// them (its v2_unordered_files test torrent).
func (p *parser) fileTree(info []byte) ([]File, error) {
	raw, ok, err := decodeOptions.DictValue(info, "file tree")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fieldErr("info.file tree", ErrBadFileTree, "missing")
	}
	var tree any
	strict := decodeOptions
	strict.Strict = true
	strict.AllowTrailing = false
	if err := strict.Unmarshal(raw, &tree); err != nil {
		return nil, &Error{Field: "info.file tree", Err: shiftOffset(err, bytes.Index(info, raw))}
	}
	root, ok := tree.(map[string]any)
	if !ok {
		return nil, fieldErr("info.file tree", ErrBadFileTree, "not a dictionary")
	}
	if _, isFile := root[""]; isFile {
		// BEP 52: "The file tree root dictionary itself must not be a file."
		return nil, fieldErr("info.file tree", ErrBadFileTree, "the root is a file")
	}
	var files []File
	if err := p.walkTree(root, nil, "info.file tree", &files); err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fieldErr("info.file tree", ErrNoFiles, "no files")
	}
	return files, nil
}

// walkTree appends the files under dir (a directory node at path) in key
// order, which is the file order of the torrent.
func (p *parser) walkTree(dir map[string]any, path []string, field string, files *[]File) error {
	keys := make([]string, 0, len(dir))
	for k := range dir {
		keys = append(keys, k)
	}
	slices.Sort(keys) // bytewise, as the strict decoder guarantees the file has them
	for _, k := range keys {
		f := field + "." + k
		child, ok := dir[k].(map[string]any)
		if !ok {
			return fieldErr(f, ErrBadFileTree, "not a dictionary")
		}
		if k == "" {
			return fieldErr(f, ErrBadFileTree, "empty file name")
		}
		clean, changed, drop := sanitizeComponent(k)
		sub := path
		switch {
		case drop:
			p.warnf("%s: component %q dropped", f, k)
		case changed:
			p.warnf("%s: component %q sanitised to %q", f, k, clean)
			fallthrough
		default:
			sub = append(slices.Clip(path), clean)
		}
		if leaf, isFile := child[""]; isFile {
			if len(child) != 1 {
				// BEP 52: a dictionary describing a file "must not have any
				// sibling entries".
				return fieldErr(f, ErrBadFileTree, "a file node has other entries")
			}
			file, err := v2File(leaf, f)
			if err != nil {
				return err
			}
			if len(sub) == 0 {
				sub = []string{"_"}
				p.warnf("%s: no usable component, named \"_\"", f)
			}
			file.Path = sub
			*files = append(*files, file)
			continue
		}
		if len(child) == 0 {
			return fieldErr(f, ErrBadFileTree, "empty directory")
		}
		if err := p.walkTree(child, sub, f, files); err != nil {
			return err
		}
	}
	return nil
}

// v2File reads the properties dict of a v2 file: length, pieces root,
// attr and symlink path (BEP 52, BEP 47).
func v2File(v any, field string) (File, error) {
	d, ok := v.(map[string]any)
	if !ok {
		return File{}, fieldErr(field, ErrBadFileTree, "file properties are not a dictionary")
	}
	var f File
	attr, _ := d["attr"].(string)
	if strings.IndexByte(attr, 'p') >= 0 {
		// v2 needs no pad files: every file is piece-aligned by definition.
		return File{}, fieldErr(field+".attr", ErrBadFileTree, "pad file in a v2 file tree")
	}
	if strings.IndexByte(attr, 'l') >= 0 {
		target, ok := d["symlink path"].([]any)
		if !ok {
			return File{}, fieldErr(field+".symlink path", ErrBadPath, "missing or not a list")
		}
		f.Symlink = []string{}
		for j, c := range target {
			s, ok := c.(string)
			if !ok {
				return File{}, fieldErr(field+".symlink path["+itoa(j)+"]", ErrBadPath, "component is not a string")
			}
			if clean, _, drop := sanitizeComponent(s); !drop {
				f.Symlink = append(f.Symlink, clean)
			}
		}
	}
	l, ok := d["length"].(int64)
	if !ok {
		if f.Symlink != nil {
			return f, nil
		}
		return File{}, fieldErr(field+".length", ErrBadLength, "missing or not an integer")
	}
	if l < 0 {
		return File{}, fieldErr(field+".length", ErrBadLength, "length %d is negative", l)
	}
	f.Length = l
	if l == 0 || f.Symlink != nil {
		return f, nil
	}
	root, ok := d["pieces root"].(string)
	if !ok {
		return File{}, fieldErr(field+".pieces root", ErrMissingPiecesRoot, "missing for a file of %d bytes", l)
	}
	if len(root) != 32 {
		return File{}, fieldErr(field+".pieces root", ErrMissingPiecesRoot, "length %d, want 32", len(root))
	}
	copy(f.PiecesRoot[:], root)
	if f.PiecesRoot.IsZero() {
		return File{}, fieldErr(field+".pieces root", ErrMissingPiecesRoot, "all zero")
	}
	return f, nil
}

// hybridMatch checks that the v1 file list and the v2 file tree of a hybrid
// torrent describe the same files in the same order, pad files aside, and
// that every v1 file starts on a piece boundary as the v2 layout implies
// (BEP 52, "Upgrade path"). On success it copies the v2 pieces roots into
// the v1 list.
func hybridMatch(v1, v2 []File, pl int64) error {
	var off int64
	j := 0
	for i := range v1 {
		f := &v1[i]
		if f.Pad {
			off += f.Length
			continue
		}
		if j >= len(v2) {
			return fieldErr("info.files["+itoa(i)+"]", ErrInconsistentFiles, "not in the v2 file tree")
		}
		g := v2[j]
		j++
		if f.Length != g.Length || !slices.Equal(f.Path, g.Path) {
			return fieldErr("info.files["+itoa(i)+"]", ErrInconsistentFiles, "%q (%d bytes) differs from v2 file %q (%d bytes)",
				strings.Join(f.Path, "/"), f.Length, strings.Join(g.Path, "/"), g.Length)
		}
		if f.Length > 0 && f.Symlink == nil && off%pl != 0 {
			return fieldErr("info.files["+itoa(i)+"]", ErrInconsistentFiles, "starts at offset %d, not on a piece boundary", off)
		}
		f.PiecesRoot = g.PiecesRoot
		off += f.Length
	}
	if j != len(v2) {
		return fieldErr("info.file tree", ErrInconsistentFiles, "%d v2 files, %d v1 files", len(v2), j)
	}
	return nil
}

// pieceLayers checks the top-level "piece layers" against the files' pieces
// roots (BEP 52): every key is the root of a file larger than one piece,
// every layer holds one 32-byte hash per piece of that file, and the layer
// hashes up to the root. A missing dict, or a missing layer, is tolerated
// (libtorrent loads such torrents and fetches the layers from peers); a
// wrong one is not.
func (p *parser) pieceLayers(top map[string]any, files []File, pl int64) error {
	v, ok := top["piece layers"]
	if !ok {
		return nil
	}
	layers, ok := v.(map[string]any)
	if !ok {
		return fieldErr("piece layers", ErrBadPieceLayers, "not a dictionary")
	}
	byRoot := make(map[HashV2]int64, len(files))
	for _, f := range files {
		if f.Length > pl {
			byRoot[f.PiecesRoot] = f.Length
		}
	}
	pad := padHash(pl)
	for k, v := range layers {
		var root HashV2
		if len(k) != 32 {
			return fieldErr("piece layers", ErrBadPieceLayers, "key of %d bytes, want 32", len(k))
		}
		copy(root[:], k)
		field := "piece layers." + root.String()
		length, ok := byRoot[root]
		if !ok {
			return fieldErr(field, ErrBadPieceLayers, "not the pieces root of a file larger than one piece")
		}
		layer, ok := v.(string)
		if !ok {
			return fieldErr(field, ErrBadPieceLayers, "not a string")
		}
		if len(layer)%32 != 0 {
			return fieldErr(field, ErrBadPieceLayers, "length %d is not a multiple of 32", len(layer))
		}
		if want := ceilDiv(length, pl); int64(len(layer)/32) != want {
			return fieldErr(field, ErrBadPieceLayers, "%d hashes for a file of %d pieces", len(layer)/32, want)
		}
		if merkleRoot(layer, pad) != root {
			return fieldErr(field, ErrBadPieceLayers, "layer hashes do not match the pieces root")
		}
	}
	return nil
}

// padHash is the hash of a piece-sized subtree of zero leaves: what fills a
// piece layer up to a power of two (BEP 52: "remaining leaf hashes beyond the
// end of the file ... are set to zero").
func padHash(pl int64) HashV2 {
	var h HashV2
	for n := int64(blockSize); n < pl; n *= 2 {
		h = sha256.Sum256(append(h[:], h[:]...))
	}
	return h
}

// merkleRoot hashes a layer of 32-byte hashes up to its root, padding with
// pad to a power of two.
func merkleRoot(layer string, pad HashV2) HashV2 {
	n := len(layer) / 32
	width := 1
	for width < n {
		width *= 2
	}
	level := make([]HashV2, width)
	for i := range level {
		if i < n {
			copy(level[i][:], layer[i*32:])
		} else {
			level[i] = pad
		}
	}
	var buf [64]byte
	for len(level) > 1 {
		for i := 0; i < len(level)/2; i++ {
			copy(buf[:32], level[2*i][:])
			copy(buf[32:], level[2*i+1][:])
			level[i] = sha256.Sum256(buf[:])
		}
		level = level[:len(level)/2]
	}
	return level[0]
}

// shiftOffset makes the offset of a bencode error found in a sub-slice
// relative to the enclosing document, base bytes in. err may be the
// *bencode.SyntaxError itself or an *Error wrapping it directly.
func shiftOffset(err error, base int) error {
	if base <= 0 {
		return err
	}
	if fe, ok := err.(*Error); ok {
		if se, ok := fe.Err.(*bencode.SyntaxError); ok {
			c := *se
			c.Offset += int64(base)
			return &Error{Field: fe.Field, Err: &c}
		}
		return err
	}
	if se, ok := err.(*bencode.SyntaxError); ok {
		c := *se
		c.Offset += int64(base)
		return &c
	}
	return err
}
