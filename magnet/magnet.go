// Package magnet parses and formats magnet URIs (BEP 9) and bare info hashes.
//
// A magnet link names a swarm without its metadata: one or more info hashes
// (urn:btih for v1, urn:btmh for v2), and optionally a display name, trackers,
// peer addresses, web seeds and the exact length. Parse also accepts a bare
// info hash, so that every command taking a magnet link takes a hash too.
package magnet

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/peerfind/peerfind/metainfo"
)

// Magnet is a parsed magnet link. The zero value is an empty link; a link
// worth formatting needs at least one hash.
type Magnet struct {
	InfoHashes   []metainfo.Hash   // xt=urn:btih: (v1), in the order given, without duplicates
	InfoHashesV2 []metainfo.HashV2 // xt=urn:btmh:1220… (v2, BEP 52), in order, without duplicates
	Name         string            // dn: display name, a hint only
	Trackers     []string          // tr: tracker URLs, in order, without duplicates
	Peers        []string          // x.pe: peer addresses as host:port (BEP 9)
	WebSeeds     []string          // ws: web seed URLs (BEP 19)
	Length       int64             // xl: exact length in bytes; 0 if not given
	Extra        url.Values        // every other parameter, kept as given (nil if none)
	// Warnings lists the optional parameters Parse ignored or read as
	// given because they were malformed (a bad x.pe address, an xl that is
	// not a number, bad percent-encoding in dn...), each naming the
	// parameter. Only the exact topics (xt) make a link unusable: a link
	// with a good hash is a good link, as clients treat it.
	Warnings []string
}

// Errors that Parse wraps; test with errors.Is.
var (
	// ErrNotMagnet: the input is neither a magnet URI nor a bare info hash.
	ErrNotMagnet = errors.New("not a magnet link or info hash")
	// ErrNoHash: the magnet link has no urn:btih or urn:btmh exact topic.
	ErrNoHash = errors.New("magnet link has no BitTorrent info hash (xt=urn:btih or urn:btmh)")
)

// Error reports a malformed parameter of a magnet link.
type Error struct {
	Param string // the parameter, e.g. "xt" or "x.pe"
	Value string // its value as given (unescaped)
	Err   error  // what is wrong with it
}

// Error returns e.g. `magnet: xt "urn:btih:xyz": invalid info hash ...`.
func (e *Error) Error() string {
	return fmt.Sprintf("magnet: %s %q: %v", truncate(e.Param), truncate(e.Value), e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// multihashSHA256 is the multihash prefix of a v2 info hash in urn:btmh:
// function code 0x12 (sha2-256), digest length 0x20 (BEP 9, BEP 52).
const multihashSHA256 = "1220"

// Parse parses a magnet URI, or a bare info hash: 40 hex digits or 32 base32
// characters (v1), or 64 hex digits (v2). A malformed exact topic (xt) is an
// error; a malformed optional parameter is ignored (or, for bad
// percent-encoding, read as given) and listed in Warnings.
//
// Parameter values are percent-decoded, with '+' read as a space as in HTML
// forms, which is how most clients write dn. Keys are case-sensitive as in
// BEP 9, but numbered forms such as "tr.1" or "xt.2" (written by some
// clients) count as their base key. Unknown parameters, and exact topics
// other than urn:btih and urn:btmh, are kept in Extra.
func Parse(s string) (*Magnet, error) {
	s = strings.TrimSpace(s)
	if m, ok := parseBare(s); ok {
		return m, nil
	}
	const scheme = "magnet:"
	if len(s) < len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) {
		return nil, fmt.Errorf("%w: %q", ErrNotMagnet, truncate(s))
	}
	q := s[len(scheme):]
	q = strings.TrimPrefix(q, "?")
	if i := strings.IndexByte(q, '#'); i >= 0 {
		q = q[:i] // a fragment is not part of the query (RFC 3986)
	}
	m := &Magnet{}
	for part := range strings.SplitSeq(q, "&") {
		if part == "" {
			continue
		}
		rawKey, rawVal, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil, &Error{Param: rawKey, Value: rawVal, Err: fmt.Errorf("bad percent-encoding in key: %w", err)}
		}
		val, err := url.QueryUnescape(rawVal)
		if err != nil {
			if baseKey(key) == "xt" {
				return nil, &Error{Param: key, Value: rawVal, Err: fmt.Errorf("bad percent-encoding: %w", err)}
			}
			m.warnf(key, rawVal, "bad percent-encoding, read as given")
			val = rawVal
		}
		if err := m.add(baseKey(key), key, val); err != nil {
			var me *Error
			if baseKey(key) == "xt" || !errors.As(err, &me) {
				return nil, err
			}
			m.warnf(me.Param, me.Value, me.Err.Error()+", ignored")
		}
	}
	if len(m.InfoHashes) == 0 && len(m.InfoHashesV2) == 0 {
		return nil, ErrNoHash
	}
	return m, nil
}

// parseBare recognises a bare info hash.
func parseBare(s string) (*Magnet, bool) {
	switch len(s) {
	case 40, 32:
		if h, err := metainfo.ParseHash(s); err == nil {
			return &Magnet{InfoHashes: []metainfo.Hash{h}}, true
		}
	case 64:
		if h, err := metainfo.ParseHashV2(s); err == nil {
			return &Magnet{InfoHashesV2: []metainfo.HashV2{h}}, true
		}
	}
	return nil, false
}

// baseKey maps the numbered keys some clients write ("tr.1", "xt.2") to
// their base key. x.pe keeps its dot.
func baseKey(k string) string {
	i := strings.LastIndexByte(k, '.')
	if i <= 0 || i == len(k)-1 {
		return k
	}
	if _, err := strconv.ParseUint(k[i+1:], 10, 32); err != nil {
		return k
	}
	switch base := k[:i]; base {
	case "xt", "tr", "ws", "dn", "x.pe", "xl":
		return base
	}
	return k
}

// add records one parameter.
func (m *Magnet) add(key, rawKey, val string) error {
	switch key {
	case "xt":
		return m.addTopic(rawKey, val)
	case "dn":
		if m.Name == "" {
			m.Name = val
		}
	case "tr":
		if val != "" {
			m.Trackers = appendUnique(m.Trackers, val)
		}
	case "ws":
		if val != "" {
			if !metainfo.IsWebSeedURL(val) {
				return &Error{Param: rawKey, Value: val, Err: errors.New("not an absolute http(s) or ftp URL")}
			}
			m.WebSeeds = appendUnique(m.WebSeeds, val)
		}
	case "x.pe":
		if _, port, err := net.SplitHostPort(val); err != nil || port == "" {
			return &Error{Param: rawKey, Value: val, Err: errors.New("peer address is not host:port")}
		} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return &Error{Param: rawKey, Value: val, Err: errors.New("bad port")}
		}
		m.Peers = appendUnique(m.Peers, val)
	case "xl":
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil || n < 0 {
			return &Error{Param: rawKey, Value: val, Err: errors.New("exact length is not a non-negative integer")}
		}
		m.Length = n
	default:
		m.addExtra(rawKey, val)
	}
	return nil
}

// addTopic records an exact topic: urn:btih (v1) or urn:btmh (v2).
func (m *Magnet) addTopic(rawKey, val string) error {
	urn, hash, ok := cutURN(val)
	switch {
	case ok && urn == "btih":
		h, err := metainfo.ParseHash(hash)
		if err != nil {
			return &Error{Param: rawKey, Value: val, Err: err}
		}
		for _, have := range m.InfoHashes {
			if have == h {
				return nil
			}
		}
		m.InfoHashes = append(m.InfoHashes, h)
	case ok && urn == "btmh":
		if len(hash) != len(multihashSHA256)+64 || !strings.EqualFold(hash[:4], multihashSHA256) {
			return &Error{Param: rawKey, Value: val, Err: fmt.Errorf("%w: want multihash 1220 followed by 64 hex digits (SHA-256)", metainfo.ErrBadHash)}
		}
		h, err := metainfo.ParseHashV2(hash[4:])
		if err != nil {
			return &Error{Param: rawKey, Value: val, Err: err}
		}
		for _, have := range m.InfoHashesV2 {
			if have == h {
				return nil
			}
		}
		m.InfoHashesV2 = append(m.InfoHashesV2, h)
	default:
		m.addExtra(rawKey, val) // another URN scheme (urn:sha1, urn:ed2k...): not ours
	}
	return nil
}

// cutURN splits "urn:btih:HASH" into ("btih", "HASH"), case-insensitively.
func cutURN(v string) (nid, rest string, ok bool) {
	if len(v) < 4 || !strings.EqualFold(v[:4], "urn:") {
		return "", "", false
	}
	nid, rest, ok = strings.Cut(v[4:], ":")
	return strings.ToLower(nid), rest, ok
}

func (m *Magnet) warnf(param, val, msg string) {
	m.Warnings = append(m.Warnings, fmt.Sprintf("%s %q: %s", truncate(param), truncate(val), msg))
}

func (m *Magnet) addExtra(k, v string) {
	if m.Extra == nil {
		m.Extra = url.Values{}
	}
	m.Extra.Add(k, v)
}

func appendUnique(list []string, s string) []string {
	for _, have := range list {
		if have == s {
			return list
		}
	}
	return append(list, s)
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// String formats m as a magnet URI: exact topics first (btih, then btmh),
// then dn, xl, tr, ws, x.pe and the extra parameters in sorted key order.
// Values are percent-encoded except for RFC 3986 unreserved characters, so
// the result parses back to an equal Magnet.
func (m *Magnet) String() string {
	var b strings.Builder
	b.WriteString("magnet:?")
	sep := ""
	param := func(k, v string) {
		b.WriteString(sep)
		sep = "&"
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(escape(v))
	}
	for _, h := range m.InfoHashes {
		param("xt", "urn:btih:"+h.String())
	}
	for _, h := range m.InfoHashesV2 {
		param("xt", "urn:btmh:"+multihashSHA256+h.String())
	}
	if m.Name != "" {
		param("dn", m.Name)
	}
	if m.Length > 0 {
		param("xl", strconv.FormatInt(m.Length, 10))
	}
	for _, t := range m.Trackers {
		param("tr", t)
	}
	for _, w := range m.WebSeeds {
		param("ws", w)
	}
	for _, p := range m.Peers {
		// libtorrent 2.0 does not percent-decode x.pe, so an escaped
		// "[::1]:6881" would be lost on it: keep the brackets of IPv6
		// addresses literal (Parse accepts both forms).
		b.WriteString(sep + "x.pe=" + strings.NewReplacer("%5B", "[", "%5D", "]").Replace(escape(p)))
		sep = "&"
	}
	if len(m.Extra) > 0 {
		// Encode sorts by key; the keys are ours to escape too.
		b.WriteString(sep)
		b.WriteString(m.Extra.Encode())
	}
	return b.String()
}

// escape percent-encodes everything but the unreserved characters of
// RFC 3986 and ':' (harmless in a query value, and it keeps "urn:btih:"
// readable the way every client writes it).
func escape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == ':' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return string(b)
}

// SwarmHashes returns the 20-byte keys under which the swarm is found on
// trackers and the DHT: each v1 hash, then each v2 hash truncated to 20 bytes
// (BEP 52), without duplicates.
func (m *Magnet) SwarmHashes() []metainfo.Hash {
	out := make([]metainfo.Hash, 0, len(m.InfoHashes)+len(m.InfoHashesV2))
	seen := make(map[metainfo.Hash]bool, cap(out))
	add := func(h metainfo.Hash) {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for _, h := range m.InfoHashes {
		add(h)
	}
	for _, h := range m.InfoHashesV2 {
		add(h.Truncate())
	}
	return out
}

// FromMetaInfo returns the magnet link of a parsed torrent: its info hashes,
// name, trackers (all tiers, in order), web seeds and total length.
func FromMetaInfo(mi *metainfo.MetaInfo) *Magnet {
	m := &Magnet{Name: mi.Info.Name, Length: mi.Info.TotalLength}
	if !mi.InfoHash.IsZero() {
		m.InfoHashes = []metainfo.Hash{mi.InfoHash}
	}
	if !mi.InfoHashV2.IsZero() {
		m.InfoHashesV2 = []metainfo.HashV2{mi.InfoHashV2}
	}
	for _, tier := range mi.Trackers() {
		for _, t := range tier {
			m.Trackers = appendUnique(m.Trackers, t)
		}
	}
	for _, w := range mi.URLList {
		m.WebSeeds = appendUnique(m.WebSeeds, w)
	}
	return m
}
