package metainfo

import (
	"crypto/sha1"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/peerfind/peerfind/bencode"
)

// torrent builds a .torrent from a top-level dict, via the bencode package.
func torrent(t testing.TB, top map[string]any) []byte {
	t.Helper()
	b, err := bencode.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// v1Info returns a valid single-file info dict of n bytes in 16 KiB pieces.
func v1Info(n int64) map[string]any {
	pieces := (n + 16383) / 16384
	return map[string]any{
		"name":         "file.bin",
		"length":       n,
		"piece length": int64(16384),
		"pieces":       strings.Repeat("x", int(pieces)*20),
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestParseSingleFile(t *testing.T) {
	info := v1Info(40000)
	data := torrent(t, map[string]any{
		"info":          info,
		"announce":      "http://a.example/announce",
		"announce-list": []any{[]any{"http://a.example/announce", "udp://b.example:80"}, []any{}, []any{"http://a.example/announce", " udp://c.example:1 "}},
		"url-list":      "http://ws.example/",
		"nodes":         []any{[]any{"127.0.0.1", int64(6881)}, []any{"::1", int64(6882)}, []any{"bad"}},
		"creation date": int64(1700000000),
		"created by":    "test",
		"comment":       "hi",
	})
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	rawInfo, _, _ := bencode.DictValue(data, "info")
	if m.InfoHash != Hash(sha1.Sum(rawInfo)) || !m.InfoHashV2.IsZero() {
		t.Errorf("hashes %v %v", m.InfoHash, m.InfoHashV2)
	}
	want := Info{Name: "file.bin", PieceLength: 16384, NumPieces: 3, TotalLength: 40000, MetaVersion: 1,
		Files: []File{{Path: []string{"file.bin"}, Length: 40000}}, Pieces: []byte(strings.Repeat("x", 60))}
	if !reflect.DeepEqual(m.Info, want) {
		t.Errorf("Info = %+v\nwant %+v", m.Info, want)
	}
	if got, want := m.Trackers(), [][]string{{"http://a.example/announce", "udp://b.example:80"}, {"udp://c.example:1"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Trackers = %q, want %q", got, want)
	}
	if got, want := m.Nodes, []string{"127.0.0.1:6881", "[::1]:6882"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Nodes = %q, want %q", got, want)
	}
	if m.URLList[0] != "http://ws.example/" || m.CreationDate.Unix() != 1700000000 || m.CreatedBy != "test" || m.Comment != "hi" {
		t.Errorf("optional fields: %+v", m)
	}
	if len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], "nodes[2]") {
		t.Errorf("Warnings = %q", m.Warnings)
	}
	if got := m.SwarmHashes(); len(got) != 1 || got[0] != m.InfoHash {
		t.Errorf("SwarmHashes = %v", got)
	}
}

// TestWebSeeds: a web seed that is not an absolute URL (BEP 19) is dropped
// with a warning, so it never reaches a magnet link.
func TestWebSeeds(t *testing.T) {
	data := torrent(t, map[string]any{
		"info":     v1Info(40000),
		"url-list": []any{"https://ws.example/x", "files/x.iso", "ftp://f.example/x", "//nohost", "mailto:a@b"},
	})
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://ws.example/x", "ftp://f.example/x"}; !reflect.DeepEqual(m.URLList, want) {
		t.Errorf("URLList = %q, want %q", m.URLList, want)
	}
	if len(m.Warnings) != 3 || m.Warnings[0] != `url-list[1]: "files/x.iso" is not an absolute http(s) or ftp URL, ignored` {
		t.Errorf("Warnings = %q", m.Warnings)
	}
}

func TestTrackersAnnounceOnly(t *testing.T) {
	m := &MetaInfo{Announce: "http://x/announce"}
	if got := m.Trackers(); !reflect.DeepEqual(got, [][]string{{"http://x/announce"}}) {
		t.Errorf("Trackers = %q", got)
	}
	if got := (&MetaInfo{}).Trackers(); got != nil {
		t.Errorf("Trackers of nothing = %q", got)
	}
}

func TestPathSanitising(t *testing.T) {
	info := map[string]any{
		"name":         "..",
		"piece length": int64(16384),
		"pieces":       strings.Repeat("x", 20),
		"files": []any{
			map[string]any{"length": int64(1), "path": []any{"..", "..", "etc", "passwd"}},
			map[string]any{"length": int64(1), "path": []any{"/abs", "a\\b", "ok"}},
			map[string]any{"length": int64(1), "path": []any{"", "."}},
			map[string]any{"length": int64(1), "path": []any{"etc", "passwd"}},
		},
	}
	m, err := Parse(torrent(t, map[string]any{"info": info}))
	if err != nil {
		t.Fatal(err)
	}
	var paths [][]string
	for _, f := range m.Info.Files {
		paths = append(paths, f.Path)
	}
	want := [][]string{{"etc", "passwd"}, {"_abs", "a_b", "ok"}, {"_"}, {"etc", "passwd"}}
	if !reflect.DeepEqual(paths, want) || m.Info.Name != "_" {
		t.Errorf("name %q, paths %q, want %q", m.Info.Name, paths, want)
	}
	joined := strings.Join(m.Warnings, "\n")
	for _, w := range []string{`info.name: ".."`, `info.files[0].path[0]: component ".." dropped`, `"/abs" sanitised to "_abs"`, `info.files[3]: duplicate path "etc/passwd"`} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings lack %q:\n%s", w, joined)
		}
	}
}

func TestParseErrors(t *testing.T) {
	ok := v1Info(40000)
	tests := []struct {
		name     string
		data     []byte
		sentinel error
		msg      string // substring of the message
	}{
		{"not a dict", []byte("4:spam"), ErrNotDict, "not a bencoded dictionary"},
		{"no info", torrent(t, map[string]any{"announce": "x"}), ErrMissingInfo, "info: missing"},
		{"info not dict", torrent(t, map[string]any{"info": "x"}), ErrMissingInfo, "info: missing"},
		{"pieces 119", torrent(t, map[string]any{"info": with(ok, "pieces", strings.Repeat("x", 119))}), ErrInvalidPieces, "info.pieces: length 119 is not a multiple of 20"},
		{"pieces count", torrent(t, map[string]any{"info": with(ok, "pieces", strings.Repeat("x", 40))}), ErrInvalidPieces, "2 piece hashes for 40000 bytes"},
		{"no pieces", torrent(t, map[string]any{"info": with(ok, "pieces", nil)}), ErrInvalidPieces, "info.pieces: missing"},
		{"no name", torrent(t, map[string]any{"info": with(ok, "name", nil)}), ErrMissingName, "info.name: missing"},
		{"empty name", torrent(t, map[string]any{"info": with(ok, "name", "")}), ErrMissingName, "info.name: empty"},
		{"negative length", torrent(t, map[string]any{"info": with(ok, "length", int64(-1))}), ErrBadLength, "info.length: length -1 is negative"},
		{"zero length", torrent(t, map[string]any{"info": with(ok, "length", int64(0), "pieces", "")}), ErrBadLength, "total length is zero"},
		{"zero piece length", torrent(t, map[string]any{"info": with(ok, "piece length", int64(0))}), ErrBadPieceLength, "not positive"},
		{"no files", torrent(t, map[string]any{"info": with(ok, "length", nil, "files", []any{})}), ErrNoFiles, "info.files: empty list"},
		{"path not strings", torrent(t, map[string]any{"info": with(ok, "length", nil, "files", []any{map[string]any{"length": int64(1), "path": []any{int64(1)}}})}), ErrBadPath, "info.files[0].path[0]: component is not a string"},
		{"meta version 3", torrent(t, map[string]any{"info": with(ok, "meta version", int64(3))}), ErrUnsupported, "meta version 3"},
		{"v2 piece length", torrent(t, map[string]any{"info": with(ok, "meta version", int64(2), "piece length", int64(20000))}), ErrBadPieceLength, "power of two"},
		{"v2 no tree", torrent(t, map[string]any{"info": with(ok, "meta version", int64(2))}), ErrBadFileTree, "info.file tree: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.data)
			if err == nil {
				t.Fatalf("Parse = %+v, want error", m)
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("error %v does not wrap %v", err, tt.sentinel)
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Errorf("error %T is not *Error", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q lacks %q", err, tt.msg)
			}
		})
	}
}

func TestSyntaxErrorOffset(t *testing.T) {
	data := []byte("d4:infod6:lengthi01eee")
	_, err := Parse(data)
	var se *bencode.SyntaxError
	if !errors.As(err, &se) || se.Offset != 17 {
		t.Errorf("Parse = %v, want a bencode syntax error at offset 17", err)
	}
}
