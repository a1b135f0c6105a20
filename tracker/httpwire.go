package tracker

// HTTP tracker response bodies (BEP 3, 23, 7, 24, 31, 48). Pure: bytes in,
// values out.

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/peerfind/peerfind/bencode"
	"github.com/peerfind/peerfind/internal/compact"
	"github.com/peerfind/peerfind/metainfo"
)

// httpDecode limits what a tracker body may make the decoder do.
var httpDecode = bencode.DecodeOptions{MaxDepth: 16}

// decodeDict decodes a tracker body that must be a bencoded dictionary,
// naming what was received when it is not (an HTML error page, say).
func decodeDict(what string, b []byte) (map[string]any, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty %s body", ErrBadResponse, what)
	}
	if b[0] != 'd' {
		return nil, fmt.Errorf("%w: %s body is not a bencoded dictionary (starts %q)", ErrBadResponse, what, snippet(b))
	}
	var v any
	if err := httpDecode.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%w: %s body: %w", ErrBadResponse, what, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s body is not a dictionary", ErrBadResponse, what)
	}
	return m, nil
}

// snippet returns the first bytes of b for an error message.
func snippet(b []byte) string {
	const n = 48
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// failure returns the *FailureError of a body with "failure reason", or
// nil.
func failure(m map[string]any) error {
	v, ok := m["failure reason"]
	if !ok {
		return nil
	}
	fe := &FailureError{}
	switch r := v.(type) {
	case string:
		fe.Reason = r
	default:
		fe.Reason = fmt.Sprint(r)
	}
	fe.RetryIn = retryIn(m)
	return fe
}

// retryIn reads BEP 31 "retry in": minutes as an integer or a decimal
// string, or "never" (returned as -1).
func retryIn(m map[string]any) time.Duration {
	switch v := m["retry in"].(type) {
	case int64:
		if v > 0 && v < 1<<20 {
			return time.Duration(v) * time.Minute
		}
	case string:
		if v == "never" {
			return -1
		}
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && n > 0 && n < 1<<20 {
			return time.Duration(n) * time.Minute
		}
	}
	return 0
}

func intField(m map[string]any, key string, def int64) int64 {
	if v, ok := m[key].(int64); ok {
		return v
	}
	return def
}

func countField(m map[string]any, key string) int {
	v := intField(m, key, -1)
	if v < 0 || v > 1<<31-1 {
		return -1
	}
	return int(v)
}

func secondsField(m map[string]any, key string) time.Duration {
	v := intField(m, key, 0)
	if v <= 0 || v > 1<<31-1 {
		return 0
	}
	return time.Duration(v) * time.Second
}

// parseHTTPAnnounce decodes an HTTP announce response: compact peers
// (BEP 23) or a list of dictionaries (BEP 3), "peers6" (BEP 7), and the
// optional keys. A "failure reason" is returned as *FailureError.
func parseHTTPAnnounce(b []byte) (*AnnounceResponse, error) {
	m, err := decodeDict("announce", b)
	if err != nil {
		return nil, err
	}
	if err := failure(m); err != nil {
		return nil, err
	}
	r := &AnnounceResponse{
		Interval:    secondsField(m, "interval"),
		MinInterval: secondsField(m, "min interval"),
		Seeders:     countField(m, "complete"),
		Leechers:    countField(m, "incomplete"),
		RetryIn:     retryIn(m),
	}
	if s, ok := m["tracker id"].(string); ok {
		r.TrackerID = s
	}
	if s, ok := m["warning message"].(string); ok {
		r.Warning = s
	}
	if s, ok := m["external ip"].(string); ok {
		if a, ok := netip.AddrFromSlice([]byte(s)); ok {
			r.ExternalIP = a.Unmap()
		}
	}
	for _, key := range []string{"peers", "peers6"} {
		v, ok := m[key]
		if !ok {
			continue
		}
		peers, err := parseHTTPPeers(key, v)
		if err != nil {
			return nil, err
		}
		r.Peers = append(r.Peers, peers...)
	}
	return r, nil
}

// parseHTTPPeers decodes one "peers"/"peers6" value. A compact string must
// be whole entries: one misaligned byte makes every later entry garbage.
// Dictionary entries that are not an IP address and port are skipped
// (BEP 3 allows a DNS name, which a finder cannot use as a peer).
func parseHTTPPeers(key string, v any) ([]netip.AddrPort, error) {
	switch p := v.(type) {
	case string:
		entry := compact.PeerLen4
		if key == "peers6" {
			entry = compact.PeerLen6
		}
		peers, err := compact.ParsePeers([]byte(p), entry)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrBadResponse, key, err)
		}
		return peers, nil
	case []any:
		var out []netip.AddrPort
		for _, e := range p {
			d, ok := e.(map[string]any)
			if !ok {
				continue
			}
			ip, _ := d["ip"].(string)
			port, _ := d["port"].(int64)
			if port <= 0 || port > 65535 {
				continue
			}
			a, err := netip.ParseAddr(ip)
			if err != nil {
				// Some trackers put the 4 or 16 raw bytes here.
				var ok bool
				if a, ok = netip.AddrFromSlice([]byte(ip)); !ok {
					continue
				}
			}
			out = append(out, netip.AddrPortFrom(a.Unmap().WithZone(""), uint16(port)))
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: %q is neither a string nor a list", ErrBadResponse, key)
}

// parseHTTPScrape decodes a BEP 48 scrape response. Entries whose key is
// not an info hash (see scrapeKey) are skipped.
func parseHTTPScrape(b []byte) (map[metainfo.Hash]ScrapeStats, error) {
	m, err := decodeDict("scrape", b)
	if err != nil {
		return nil, err
	}
	if err := failure(m); err != nil {
		return nil, err
	}
	files, ok := m["files"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: scrape body has no \"files\" dictionary", ErrBadResponse)
	}
	out := make(map[metainfo.Hash]ScrapeStats, len(files))
	for k, v := range files {
		d, ok := v.(map[string]any)
		h, hok := scrapeKey(k)
		if !hok || !ok {
			continue
		}
		out[h] = ScrapeStats{
			Seeders:   countField(d, "complete"),
			Completed: countField(d, "downloaded"),
			Leechers:  countField(d, "incomplete"),
		}
	}
	return out, nil
}

// scrapeKey reads the info hash a scrape entry is filed under: 20 raw bytes
// as BEP 48 says, or two forms seen in the wild that are unambiguous
// because they are longer than 20 bytes: 40 hex digits, and the raw bytes
// each re-encoded as a UTF-8 character (bittorrent-tracker 11 writes hashes
// with bytes >= 0x80 that way, having read them as Latin-1).
func scrapeKey(k string) (metainfo.Hash, bool) {
	var h metainfo.Hash
	switch {
	case len(k) == 20:
		copy(h[:], k)
		return h, true
	case len(k) == 40:
		if _, err := hex.Decode(h[:], []byte(k)); err == nil {
			return h, true
		}
	}
	if len(k) < 20 || len(k) > 40 || !utf8.ValidString(k) || utf8.RuneCountInString(k) != 20 {
		return h, false
	}
	i := 0
	for _, r := range k {
		if r > 0xff {
			return h, false
		}
		h[i] = byte(r)
		i++
	}
	return h, true
}
