package metainfo

import (
	"math"
	"strconv"
	"strings"
)

// maxPieces bounds the piece count: piece indices are 32-bit on the wire
// (BEP 3 "have"/"request") and signed in libtorrent, so a torrent with more
// than 2^31-1 pieces cannot be shared (libtorrent's v2_large_offset test).
const maxPieces = math.MaxInt32

// info parses and validates the info dictionary; raw is its exact encoding
// and top the whole torrent (for the v2 "piece layers" beside info).
func (p *parser) info(d map[string]any, raw []byte, top map[string]any) error {
	in := &p.m.Info
	in.MetaVersion = 1
	if v, ok := d["meta version"]; ok {
		// BEP 52: check the version first, before anything whose meaning
		// depends on it.
		n, isInt := v.(int64)
		if !isInt {
			return fieldErr("info.meta version", ErrUnsupported, "not an integer")
		}
		if n != 2 {
			return fieldErr("info.meta version", ErrUnsupported, "meta version %d is not supported (want 2)", n)
		}
		in.MetaVersion = 2
	}
	v2 := in.MetaVersion == 2

	name, err := p.name(d)
	if err != nil {
		return err
	}
	in.Name = name

	pl, ok := d["piece length"].(int64)
	if !ok {
		return fieldErr("info.piece length", ErrBadPieceLength, "missing or not an integer")
	}
	if pl <= 0 {
		return fieldErr("info.piece length", ErrBadPieceLength, "piece length %d is not positive", pl)
	}
	if v2 && (pl < 16<<10 || pl&(pl-1) != 0) {
		// BEP 52: "It must be a power of two and at least 16KiB."
		return fieldErr("info.piece length", ErrBadPieceLength, "piece length %d is not a power of two of at least 16 KiB (BEP 52)", pl)
	}
	in.PieceLength = pl

	pieces, hasPieces := d["pieces"]
	v1 := hasPieces
	if hasPieces {
		s, ok := pieces.(string)
		if !ok {
			return fieldErr("info.pieces", ErrInvalidPieces, "not a string")
		}
		if len(s)%20 != 0 {
			return fieldErr("info.pieces", ErrInvalidPieces, "length %d is not a multiple of 20", len(s))
		}
		in.Pieces = []byte(s)
	} else if !v2 {
		return fieldErr("info.pieces", ErrInvalidPieces, "missing (and no v2 meta version)")
	}

	var v1Files, v2Files []File
	if v1 {
		if v1Files, err = p.v1Files(d, name); err != nil {
			return err
		}
	}
	if v2 {
		if v2Files, err = p.fileTree(raw); err != nil {
			return err
		}
	}

	switch {
	case v1 && v2:
		if err := hybridMatch(v1Files, v2Files, pl); err != nil {
			return err
		}
		in.Files = v1Files
	case v1:
		in.Files = v1Files
	default:
		in.Files = v2Files
	}

	// Lengths: total without pad files, and the size of the v1 piece space
	// (pad files included) to check the piece count against.
	var total, space int64
	for _, f := range in.Files {
		if space > math.MaxInt64-f.Length {
			return fieldErr("info", ErrBadLength, "total length overflows")
		}
		space += f.Length
		if !f.Pad {
			total += f.Length
		}
	}
	in.TotalLength = total

	if total == 0 {
		return fieldErr("info", ErrBadLength, "total length is zero")
	}
	if v1 {
		want := ceilDiv(space, pl)
		if got := int64(len(in.Pieces) / 20); got != want {
			return fieldErr("info.pieces", ErrInvalidPieces, "%d piece hashes for %d bytes in pieces of %d (want %d)", got, space, pl, want)
		}
		in.NumPieces = len(in.Pieces) / 20
	} else {
		// v2: each file starts on a piece boundary (BEP 52).
		var n int64
		for _, f := range v2Files {
			n += ceilDiv(f.Length, pl)
			if n > maxPieces {
				break
			}
		}
		if n > maxPieces {
			return fieldErr("info", ErrTooManyPieces, "more than %d pieces", int64(maxPieces))
		}
		in.NumPieces = int(n)
	}
	if int64(in.NumPieces) > maxPieces {
		return fieldErr("info", ErrTooManyPieces, "%d pieces, more than %d", in.NumPieces, int64(maxPieces))
	}
	if v2 {
		if err := p.pieceLayers(top, v2Files, pl); err != nil {
			return err
		}
	}
	if b, ok := d["private"].(int64); ok && b == 1 {
		in.Private = true
	}
	return nil
}

// name returns the sanitised torrent name: "name.utf-8" when it is a usable
// string (some clients put a legacy-encoded "name" beside it), else "name".
func (p *parser) name(d map[string]any) (string, error) {
	field := "info.name.utf-8"
	s, ok := d["name.utf-8"].(string)
	if !ok || s == "" {
		field = "info.name"
		s, ok = d["name"].(string)
		if !ok {
			if _, present := d["name"]; present {
				return "", fieldErr(field, ErrMissingName, "not a string")
			}
			return "", fieldErr(field, ErrMissingName, "missing")
		}
	}
	if s == "" {
		return "", fieldErr(field, ErrMissingName, "empty")
	}
	c, changed, drop := sanitizeComponent(s)
	if drop {
		c = "_" // "." or "..": libtorrent's invalid_name2 test torrent is valid
	}
	if changed {
		p.warnf("%s: %q sanitised to %q", field, s, c)
	}
	return c, nil
}

// v1Files reads "files" (multi-file) or "length" (single-file), BEP 3.
func (p *parser) v1Files(d map[string]any, name string) ([]File, error) {
	list, multi := d["files"]
	if !multi {
		l, ok := d["length"].(int64)
		if !ok {
			return nil, fieldErr("info.length", ErrBadLength, "neither length nor files present")
		}
		if l < 0 {
			return nil, fieldErr("info.length", ErrBadLength, "length %d is negative", l)
		}
		return []File{{Path: []string{name}, Length: l}}, nil
	}
	entries, ok := list.([]any)
	if !ok {
		return nil, fieldErr("info.files", ErrNoFiles, "not a list")
	}
	if len(entries) == 0 {
		return nil, fieldErr("info.files", ErrNoFiles, "empty list")
	}
	files := make([]File, 0, len(entries))
	seen := make(map[string]bool, len(entries))
	for i, e := range entries {
		f, err := p.v1File(e, i)
		if err != nil {
			return nil, err
		}
		if !f.Pad {
			key := strings.Join(f.Path, "/")
			if seen[key] {
				p.warnf("info.files[%d]: duplicate path %q", i, key)
			}
			seen[key] = true
		}
		files = append(files, f)
	}
	return files, nil
}

// v1File reads one entry of "files".
func (p *parser) v1File(e any, i int) (File, error) {
	field := func(s string) string { return "info.files[" + itoa(i) + "]" + s }
	d, ok := e.(map[string]any)
	if !ok {
		return File{}, fieldErr(field(""), ErrBadPath, "not a dictionary")
	}
	var f File
	attr, _ := d["attr"].(string)
	f.Pad = strings.IndexByte(attr, 'p') >= 0
	symlink := strings.IndexByte(attr, 'l') >= 0
	l, ok := d["length"].(int64)
	_, present := d["length"]
	switch {
	case !ok && (present || !symlink):
		// A symlink needs no length (BEP 47; libtorrent's
		// symlink_zero_size test torrent).
		return File{}, fieldErr(field(".length"), ErrBadLength, "missing or not an integer")
	case l < 0:
		return File{}, fieldErr(field(".length"), ErrBadLength, "length %d is negative", l)
	}
	f.Length = l
	key := "path"
	raw, ok := d["path.utf-8"].([]any)
	if ok && len(raw) > 0 {
		key = "path.utf-8"
	} else {
		var present bool
		var v any
		v, present = d["path"]
		raw, ok = v.([]any)
		if !present && f.Pad {
			// BEP 47 pad files need no usable path (libtorrent's
			// pad_file_no_path test torrent).
			return f, nil
		}
		if !ok {
			return File{}, fieldErr(field(".path"), ErrBadPath, "missing or not a list")
		}
	}
	path, err := p.path(raw, field("."+key))
	if err != nil {
		return File{}, err
	}
	if len(path) == 0 && !f.Pad {
		p.warnf("%s: no usable component, named \"_\"", field("."+key))
		path = []string{"_"}
	}
	f.Path = path
	if symlink {
		target, ok := d["symlink path"].([]any)
		if !ok {
			return File{}, fieldErr(field(".symlink path"), ErrBadPath, "missing or not a list")
		}
		if f.Symlink, err = p.path(target, field(".symlink path")); err != nil {
			return File{}, err
		}
		if f.Symlink == nil {
			f.Symlink = []string{}
		}
	}
	return f, nil
}

// path sanitises a list of path components (see the package comment).
func (p *parser) path(raw []any, field string) ([]string, error) {
	out := make([]string, 0, len(raw))
	for j, c := range raw {
		s, ok := c.(string)
		if !ok {
			return nil, fieldErr(field+"["+itoa(j)+"]", ErrBadPath, "component is not a string")
		}
		clean, changed, drop := sanitizeComponent(s)
		switch {
		case drop:
			p.warnf("%s[%d]: component %q dropped", field, j, s)
			continue
		case changed:
			p.warnf("%s[%d]: component %q sanitised to %q", field, j, s, clean)
		}
		out = append(out, clean)
	}
	return out, nil
}

// sanitizeComponent makes one path component safe: "", "." and ".." are
// dropped (they would name the directory itself or escape it), path
// separators and NUL become '_', and invalid UTF-8 is replaced by U+FFFD
// (BEP 52: "Implementations must be prepared to sanitize them").
func sanitizeComponent(s string) (clean string, changed, drop bool) {
	if s == "" || s == "." || s == ".." {
		return "", true, true
	}
	clean = strings.ToValidUTF8(s, "\uFFFD")
	clean = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, clean)
	return clean, clean != s, false
}

// ceilDiv returns ⌈a/b⌉ for a ≥ 0, b > 0 without overflowing.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}

func itoa(i int) string { return strconv.Itoa(i) }
