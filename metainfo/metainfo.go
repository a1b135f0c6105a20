// Package metainfo parses and validates .torrent files (BEP 3, BEP 52) and
// holds the info-hash types shared by the rest of peerfind.
//
// The info hash is computed over the exact bytes of the info value as they
// appear in the file, never over a re-encoding: real torrents contain
// unsorted keys and other non-canonical forms, and their swarm is keyed by
// the hash of the bytes as published (BEP 52, "infohash").
//
// # Validation policy
//
// Parse rejects what makes a torrent unusable or ambiguous: a missing info
// dictionary or name, bad piece length, a pieces string whose length is not a
// multiple of 20 or does not match the total length, negative or overflowing
// lengths, malformed v2 file trees and piece layers, and hybrid torrents whose
// v1 and v2 file lists differ. It follows libtorrent where libtorrent's own
// tests define the outcome.
//
// File paths are sanitised rather than rejected, as libtorrent does: path
// components that are empty, "." or ".." are dropped, and '/', '\' and NUL
// inside a component become '_', so no path can escape the torrent's
// directory. Every such change is reported in MetaInfo.Warnings, so it is
// never silent. Duplicate file paths are accepted with a warning.
package metainfo

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/peerfind/peerfind/bencode"
)

// MetaInfo is a parsed .torrent file.
type MetaInfo struct {
	Info         Info
	InfoHash     Hash       // v1: SHA-1 of the raw info bytes as in the file; zero if v2-only
	InfoHashV2   HashV2     // v2: SHA-256 of the raw info bytes; zero if v1-only
	InfoBytes    []byte     // the exact raw bytes of the info value (a copy, not aliasing the input)
	Announce     string     // "announce": the tracker of BEP 3
	AnnounceList [][]string // "announce-list" tiers (BEP 12), malformed entries skipped
	URLList      []string   // "url-list": web seeds (BEP 19), a string or a list in the wild
	Nodes        []string   // "nodes": DHT bootstrap nodes as "host:port" (BEP 5)
	CreationDate time.Time  // "creation date"; zero if absent
	CreatedBy    string     // "created by"
	Comment      string     // "comment" (or "comment.utf-8")
	// Warnings lists what Parse sanitised or tolerated (renamed path
	// components, duplicate paths, ignored malformed optional fields), each
	// naming the field. Empty for a clean torrent.
	Warnings []string
}

// Info is the content of the info dictionary.
type Info struct {
	Name        string // "name.utf-8" if present and valid, else "name"; sanitised like a path component
	PieceLength int64
	NumPieces   int    // number of pieces of the torrent (v1: len(pieces)/20; v2-only: from the file sizes)
	Private     bool   // "private" = 1 (BEP 27)
	Files       []File // every file in torrent order, v1 pad files included
	TotalLength int64  // sum of the lengths of the files that are not pad files
	MetaVersion int    // 2 for v2 and hybrid torrents (BEP 52), else 1
	// Pieces holds the v1 piece hashes, 20 bytes each; nil for v2-only torrents.
	Pieces []byte
}

// File is one file of a torrent. Path is relative to the torrent's directory
// (Info.Name) for multi-file torrents; a single-file torrent has one File
// whose Path is its file name: [Name] for v1, the one key of the v2 file tree
// (normally equal to Name) for v2.
type File struct {
	Path       []string
	Length     int64
	Pad        bool     // a v1 pad file (attr contains 'p', BEP 47): alignment only, never stored
	Symlink    []string // target of a symlink (attr contains 'l', BEP 47), nil otherwise
	PiecesRoot HashV2   // v2: merkle root of the file (BEP 52); zero for v1 files and empty files
}

// Load reads and parses the .torrent file at path. Errors name the path.
func Load(path string) (*MetaInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// maxUnixSeconds is the year 5138 in Unix seconds; a "creation date" above it
// can only be in milliseconds.
const maxUnixSeconds = 1e11

// decodeOptions: lenient key order and trailing bytes allowed, because real
// torrents have both (12 files of the corpus end with "\n"); libtorrent's
// depth limit of 100 (its v2_deep_recursion test torrent must fail).
var decodeOptions = bencode.DecodeOptions{AllowTrailing: true, MaxDepth: 100}

// Parse parses and validates a .torrent file. Errors are a bencode
// *SyntaxError (with its byte offset) for malformed bencoding, or an *Error
// naming the invalid field. Parse never panics and never keeps references
// into data.
func Parse(data []byte) (*MetaInfo, error) {
	var top any
	if err := decodeOptions.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	d, ok := top.(map[string]any)
	if !ok {
		return nil, &Error{Err: ErrNotDict}
	}
	rawInfo, ok, err := decodeOptions.DictValue(data, "info")
	if err != nil {
		return nil, err
	}
	infoDict, isDict := d["info"].(map[string]any)
	if !ok || !isDict {
		return nil, &Error{Field: "info", Err: ErrMissingInfo}
	}
	m := &MetaInfo{InfoBytes: append([]byte(nil), rawInfo...)}
	p := &parser{m: m}
	if err := p.info(infoDict, rawInfo, d); err != nil {
		return nil, shiftOffset(err, bytes.Index(data, rawInfo))
	}
	if m.Info.Pieces != nil {
		m.InfoHash = sha1.Sum(rawInfo)
	}
	if m.Info.MetaVersion == 2 {
		m.InfoHashV2 = sha256.Sum256(rawInfo)
	}
	p.topLevel(d)
	return m, nil
}

// webSeed adds a web seed (BEP 19), or warns about one that is not an
// absolute URL: a relative one names nothing a client can fetch, and copied
// into a magnet link it would mislead every client reading it.
func (p *parser) webSeed(field, s string) {
	if !IsWebSeedURL(s) {
		p.warnf("%s: %q is not an absolute http(s) or ftp URL, ignored", field, s)
		return
	}
	p.m.URLList = append(p.m.URLList, s)
}

// IsWebSeedURL reports whether s can be a web seed (BEP 19): an absolute
// http, https or ftp URL with a host.
func IsWebSeedURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "ftp":
		return true
	}
	return false
}

// parser carries the torrent being built and collects warnings.
type parser struct {
	m *MetaInfo
}

func (p *parser) warnf(format string, args ...any) {
	p.m.Warnings = append(p.m.Warnings, fmt.Sprintf(format, args...))
}

// topLevel reads the optional fields outside info. None of them can make a
// torrent invalid: a malformed one is skipped with a warning, as clients do.
func (p *parser) topLevel(d map[string]any) {
	m := p.m
	m.Announce = strings.TrimSpace(p.text(d, "announce"))
	switch v := d["announce-list"].(type) {
	case nil:
	case []any:
		for i, t := range v {
			var tier []string
			switch t := t.(type) {
			case []any:
				for j, u := range t {
					if s, ok := u.(string); ok && strings.TrimSpace(s) != "" {
						tier = append(tier, strings.TrimSpace(s))
					} else if !ok {
						p.warnf("announce-list[%d][%d]: not a string, ignored", i, j)
					}
				}
			case string:
				// A flat list of URLs (seen in the wild): one tier each.
				if s := strings.TrimSpace(t); s != "" {
					tier = []string{s}
				}
			default:
				p.warnf("announce-list[%d]: not a list, ignored", i)
			}
			if len(tier) > 0 {
				m.AnnounceList = append(m.AnnounceList, tier)
			}
		}
	default:
		p.warnf("announce-list: not a list, ignored")
	}
	switch v := d["url-list"].(type) {
	case nil:
	case string:
		if s := strings.TrimSpace(v); s != "" {
			p.webSeed("url-list", s)
		}
	case []any:
		for i, u := range v {
			if s, ok := u.(string); ok && strings.TrimSpace(s) != "" {
				p.webSeed("url-list["+itoa(i)+"]", strings.TrimSpace(s))
			} else if !ok {
				p.warnf("url-list[%d]: not a string, ignored", i)
			}
		}
	default:
		p.warnf("url-list: not a string or list, ignored")
	}
	if v, ok := d["nodes"].([]any); ok {
		// BEP 5: "nodes": [["<host>", <port>], ...].
		for i, n := range v {
			pair, ok := n.([]any)
			if !ok || len(pair) != 2 {
				p.warnf("nodes[%d]: not a [host, port] pair, ignored", i)
				continue
			}
			host, ok1 := pair[0].(string)
			port, ok2 := pair[1].(int64)
			if !ok1 || !ok2 || host == "" || port <= 0 || port > 65535 {
				p.warnf("nodes[%d]: not a [host, port] pair, ignored", i)
				continue
			}
			m.Nodes = append(m.Nodes, net.JoinHostPort(host, strconv.FormatInt(port, 10)))
		}
	}
	if v, ok := d["creation date"].(int64); ok && v > 0 {
		if v > maxUnixSeconds {
			// Some creators write milliseconds (webtorrent-fixtures'
			// leaves-url-list.torrent): read as seconds it is the year 46543.
			p.warnf("creation date: %d read as milliseconds", v)
			m.CreationDate = time.UnixMilli(v).UTC()
		} else {
			m.CreationDate = time.Unix(v, 0).UTC()
		}
	}
	m.CreatedBy = p.text(d, "created by")
	m.Comment = p.text(d, "comment")
}

// text returns the string under key, preferring the "key.utf-8" variant that
// some clients add beside a legacy-encoded value; "" if neither is a string.
func (p *parser) text(d map[string]any, key string) string {
	if s, ok := d[key+".utf-8"].(string); ok && s != "" {
		return s
	}
	s, _ := d[key].(string)
	return s
}

// Trackers returns the tracker tiers to announce to: announce-list if it has
// any URL (BEP 12), else [[announce]], else nil. A URL listed twice is kept
// only where it first appears, and empty tiers are dropped.
func (m *MetaInfo) Trackers() [][]string {
	src := m.AnnounceList
	if len(src) == 0 && m.Announce != "" {
		src = [][]string{{m.Announce}}
	}
	seen := map[string]bool{}
	var out [][]string
	for _, tier := range src {
		var t []string
		for _, u := range tier {
			if u == "" || seen[u] {
				continue
			}
			seen[u] = true
			t = append(t, u)
		}
		if len(t) > 0 {
			out = append(out, t)
		}
	}
	return out
}

// SwarmHashes returns the 20-byte keys of the torrent's swarms on trackers
// and the DHT: the v1 info hash and/or the v2 info hash truncated to 20 bytes
// (BEP 52). A hybrid torrent has both; peers may be in either swarm.
func (m *MetaInfo) SwarmHashes() []Hash {
	var out []Hash
	if !m.InfoHash.IsZero() {
		out = append(out, m.InfoHash)
	}
	if !m.InfoHashV2.IsZero() {
		out = append(out, m.InfoHashV2.Truncate())
	}
	return out
}
