package tracker

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// dialStagger is RFC 8305's connection attempt delay.
const dialStagger = 250 * time.Millisecond

// maxRedirects bounds the redirects an HTTP tracker may send us through.
const maxRedirects = 5

// userAgent is sent to HTTP trackers; some reject requests without one.
const userAgent = "peerfind/0.1"

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// parseTrackerURL parses an announce URL and checks it is usable.
func parseTrackerURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch u.Scheme {
	case "http", "https", "udp":
	default:
		return nil, fmt.Errorf("%w: scheme %q (want http, https or udp)", ErrBadURL, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w: no host", ErrBadURL)
	}
	return u, nil
}

func (c *Client) defaultHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy:               nil, // a library does not read the environment
		DialContext:         c.dialContext,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		// A crawl announces many swarms to one tracker at once: with
		// net/http's 2 idle connections per host, most announces would
		// pay a new TCP (and TLS) handshake.
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", len(via))
			}
			return nil
		},
	}
}

// dialContext resolves through the Client's Resolver, so tests can inject
// names, and races the addresses Happy-Eyeballs style (RFC 8305): the next
// address is dialled when the previous fails or has not connected within
// dialStagger, so a blackholed first address does not cost the whole
// timeout.
func (c *Client) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	addrs, err := c.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	return raceAddrsDiscard(ctx, addrs, dialStagger, func(ctx context.Context, a netip.Addr) (net.Conn, error) {
		return d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
	}, func(conn net.Conn) { conn.Close() })
}

// announceURL builds the BEP 3 announce GET URL. A query the announce URL
// already has (a private tracker's passkey) is kept in front of ours.
func announceURL(u *url.URL, req AnnounceRequest, trackerID string) string {
	var q strings.Builder
	q.WriteString(u.RawQuery)
	add := func(k, v string) {
		if q.Len() > 0 {
			q.WriteByte('&')
		}
		q.WriteString(k)
		q.WriteByte('=')
		q.WriteString(v)
	}
	add("info_hash", escapeBytes(req.InfoHash[:]))
	add("peer_id", escapeBytes(req.PeerID[:]))
	add("port", strconv.Itoa(int(req.Port)))
	add("uploaded", strconv.FormatInt(req.Uploaded, 10))
	add("downloaded", strconv.FormatInt(req.Downloaded, 10))
	add("left", strconv.FormatInt(req.Left, 10))
	add("compact", "1") // BEP 23
	add("no_peer_id", "1")
	if ev := req.Event.String(); ev != "" {
		add("event", ev)
	}
	if req.NumWant > 0 {
		add("numwant", strconv.Itoa(req.NumWant))
	}
	add("key", fmt.Sprintf("%08x", req.Key))
	if trackerID != "" {
		add("trackerid", escapeBytes([]byte(trackerID)))
	}
	v := *u
	v.RawQuery = q.String()
	v.Fragment = ""
	return v.String()
}

func (c *Client) announceHTTP(ctx context.Context, u *url.URL, raw string, req AnnounceRequest) (*AnnounceResponse, error) {
	c.stateMu.Lock()
	tid := c.trackerIDs[raw]
	c.stateMu.Unlock()
	body, err := c.get(ctx, announceURL(u, req, tid))
	if err != nil {
		return nil, err
	}
	r, err := parseHTTPAnnounce(body)
	if err != nil {
		return nil, err
	}
	if r.TrackerID != "" {
		c.stateMu.Lock()
		c.trackerIDs[raw] = r.TrackerID
		c.stateMu.Unlock()
	}
	return r, nil
}

// get fetches an HTTP tracker URL and returns the body of a 200 answer, or
// of any answer that carries a bencoded "failure reason" (some trackers
// send it with status 400 or 500).
func (c *Client) get(ctx context.Context, target string) ([]byte, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	hreq.Header.Set("User-Agent", userAgent)
	hreq.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.http.Do(hreq)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in our *Error already
		}
		return nil, classify(err)
	}
	defer resp.Body.Close()
	body, err := c.readBody(resp)
	if err != nil {
		return nil, classify(err)
	}
	if resp.StatusCode != http.StatusOK {
		if m, err := decodeDict("error", body); err == nil {
			if fe := failure(m); fe != nil {
				return nil, fe
			}
		}
		return nil, &StatusError{StatusCode: resp.StatusCode, Snippet: snippet(bytes.TrimSpace(body))}
	}
	return body, nil
}

// readBody reads at most MaxResponseSize bytes of the (gunzipped) body and
// fails beyond that without reading further, so a tracker streaming a huge
// or endless body costs us no more than the cap.
func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	limit := c.maxResponseSize()
	var r io.Reader = resp.Body
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") && !resp.Uncompressed {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrBadResponse, err)
		}
		defer zr.Close()
		r = zr
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: Content-Length %d exceeds %d bytes", ErrTooLarge, resp.ContentLength, limit)
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}

// scrapeURL derives the BEP 48 scrape URL: the last path element must
// start with "announce", which becomes "scrape"; the query is kept.
func scrapeURL(u *url.URL) (*url.URL, error) {
	p := u.Path
	i := strings.LastIndexByte(p, '/')
	last := p[i+1:]
	if !strings.HasPrefix(last, "announce") {
		return nil, ErrNoScrape
	}
	v := *u
	v.Path = p[:i+1] + "scrape" + strings.TrimPrefix(last, "announce")
	v.RawPath = ""
	v.Fragment = ""
	return &v, nil
}

// maxHTTPScrapeHashes is how many info hashes one HTTP scrape request
// carries. opentracker answers at most 64 per request and drops the rest
// silently (and fails with HTTP 500 near 200), so larger scrapes are split.
const maxHTTPScrapeHashes = 64

func (c *Client) scrapeHTTP(ctx context.Context, u *url.URL, hashes []metainfo.Hash) (map[metainfo.Hash]ScrapeStats, error) {
	su, err := scrapeURL(u)
	if err != nil {
		return nil, err
	}
	out := make(map[metainfo.Hash]ScrapeStats, len(hashes))
	for chunk := range slices.Chunk(hashes, maxHTTPScrapeHashes) {
		var q strings.Builder
		q.WriteString(su.RawQuery)
		for _, h := range chunk {
			if q.Len() > 0 {
				q.WriteByte('&')
			}
			q.WriteString("info_hash=")
			q.WriteString(escapeBytes(h[:]))
		}
		v := *su
		v.RawQuery = q.String()
		body, err := c.get(ctx, v.String())
		if err != nil {
			return nil, err
		}
		part, err := parseHTTPScrape(body)
		if err != nil {
			return nil, err
		}
		maps.Copy(out, part)
	}
	return out, nil
}

// escapeBytes percent-encodes every byte outside the unreserved set
// (0-9 A-Z a-z . - _ ~) as %XX, as BEP 3 asks for info_hash and peer_id.
// url.QueryEscape is not usable: it writes byte 0x20 as '+', which
// opentracker reads as a literal 0x2b, sending about one info hash in
// thirteen to the wrong swarm.
func escapeBytes(b []byte) string {
	const hexDigits = "0123456789ABCDEF"
	out := make([]byte, 0, len(b)*3)
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_', c == '~':
			out = append(out, c)
		default:
			out = append(out, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return string(out)
}
