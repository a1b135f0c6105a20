// Package tracker speaks the BitTorrent tracker protocols from both ends.
//
// A Client is the transport: it announces and scrapes over HTTP(S) (BEP 3,
// 23, 7, 24, 31, 48) and UDP (BEP 15, 41), owning the sockets and the UDP
// connection ids, and nothing else. A Session is one torrent's life on its
// trackers: `started`, re-announces at the trackers' intervals, `stopped`,
// the tiers (all at once, or BEP 12), URL normalisation and a concurrency
// bound. Server is a small tracker for tests and demos.
//
// A finder is not a downloading peer, so the defaults are chosen to be
// honest with swarms: a Session announces `started` with Left set to the
// caller's total size, and its Stop sends `stopped` (bounded in time) to
// every tracker that accepted a `started`, so no phantom peer is left.
package tracker

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/peerfind/peerfind/metainfo"
)

// Event is the announce event. The numbering is BEP 15's; HTTP announces
// send the names of BEP 3.
type Event uint8

// Announce events.
const (
	EventNone      Event = 0
	EventCompleted Event = 1
	EventStarted   Event = 2
	EventStopped   Event = 3
)

// String returns the BEP 3 name of the event ("" for EventNone).
func (e Event) String() string {
	switch e {
	case EventCompleted:
		return "completed"
	case EventStarted:
		return "started"
	case EventStopped:
		return "stopped"
	}
	return ""
}

// Defaults of an AnnounceRequest's zero fields.
const (
	// DefaultPort is announced when AnnounceRequest.Port is zero. A finder
	// accepts no connections, but trackers reject port 0, and 6881 is the
	// traditional BitTorrent port, so peers that try it waste little.
	DefaultPort = 6881
	// DefaultNumWant is the number of peers asked for when NumWant is zero.
	DefaultNumWant = 200
	// LeftUnknown is sent as `left` when AnnounceRequest.Left is negative
	// (a magnet link whose metadata is not known yet). Trackers treat
	// left=0 as a seeder and some reject -1, so a large positive value says
	// "leecher" honestly.
	LeftUnknown int64 = 1 << 34
)

// AnnounceRequest is one announce. Zero fields take the documented
// defaults, so AnnounceRequest{InfoHash: h, Left: size, Event: EventStarted}
// is a complete request.
type AnnounceRequest struct {
	InfoHash metainfo.Hash
	// PeerID is our peer id. If zero, the Client's PeerID is used.
	PeerID [20]byte
	// Port is the TCP port announced. If zero, DefaultPort.
	Port uint16
	// Uploaded and Downloaded are byte counts; a finder sends 0.
	Uploaded, Downloaded int64
	// Left is the number of bytes left to download: the torrent's total
	// size for a finder. Zero announces a seeder. A negative value means
	// unknown and sends LeftUnknown (never -1).
	Left int64
	// Event is the announce event.
	Event Event
	// NumWant is the number of peers wanted. If zero, DefaultNumWant; if
	// negative, the tracker's default (-1 on UDP, omitted on HTTP).
	NumWant int
	// Key identifies us across IP changes (BEP 15 "key", HTTP "key"). If
	// zero, the Client's random key, the same for every tracker and both
	// address families.
	Key uint32
}

// AnnounceResponse is a tracker's answer to an announce.
type AnnounceResponse struct {
	// Peers are the swarm members returned, IPv4 and IPv6 together.
	Peers []netip.AddrPort
	// Interval and MinInterval are the re-announce intervals asked for.
	Interval, MinInterval time.Duration
	// Seeders and Leechers are the swarm counts; -1 when not reported.
	Seeders, Leechers int
	// TrackerID is the HTTP tracker's "tracker id"; the Client echoes it on
	// later announces to the same URL.
	TrackerID string
	// Warning is the HTTP tracker's "warning message".
	Warning string
	// ExternalIP is our address as the tracker saw it (BEP 24), if sent.
	ExternalIP netip.Addr
	// RetryIn is BEP 31's "retry in", if sent; negative means "never".
	RetryIn time.Duration
}

// ScrapeStats are the counts a scrape returns for one swarm.
type ScrapeStats struct {
	Seeders   int // "complete"
	Completed int // "downloaded": snatches ever
	Leechers  int // "incomplete"
}

// Sentinel causes wrapped by *Error, for callers that branch on them.
var (
	// ErrTimeout: the tracker did not answer in time (or ctx ran out).
	ErrTimeout = errors.New("timed out")
	// ErrDNS: the tracker's host name could not be resolved.
	ErrDNS = errors.New("host not found")
	// ErrRefused: nothing listens at the tracker's address (TCP RST; UDP
	// trackers on a shared socket cannot see ICMP and time out instead).
	ErrRefused = errors.New("connection refused")
	// ErrNoScrape: the announce URL has no BEP 48 scrape form.
	ErrNoScrape = errors.New("tracker URL has no scrape form (last path element does not start with \"announce\")")
	// ErrBadURL: the tracker URL cannot be used (scheme, host or port).
	ErrBadURL = errors.New("unusable tracker URL")
	// ErrBadResponse: the tracker's answer could not be understood.
	ErrBadResponse = errors.New("malformed tracker response")
	// ErrTooLarge: the tracker's answer exceeded Client.MaxResponseSize.
	ErrTooLarge = errors.New("tracker response too large")
)

// Error is the error of every Client operation on one tracker.
type Error struct {
	URL string // the tracker URL
	Op  string // "announce" or "scrape"
	Err error  // wraps ErrTimeout, ErrDNS, ErrRefused, *FailureError, ...
}

func (e *Error) Error() string { return e.Op + " " + e.URL + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// FailureError is a tracker's own refusal: HTTP "failure reason" (BEP 3) or
// a UDP error packet (BEP 15 action 3).
type FailureError struct {
	Reason string
	// RetryIn is BEP 31's "retry in" when sent: when to ask again; a
	// negative value means "never".
	RetryIn time.Duration
}

func (e *FailureError) Error() string {
	s := fmt.Sprintf("tracker failure: %q", e.Reason)
	switch {
	case e.RetryIn < 0:
		s += " (retry never)"
	case e.RetryIn > 0:
		s += fmt.Sprintf(" (retry in %v)", e.RetryIn)
	}
	return s
}

// StatusError is an HTTP tracker answering with a status other than 200 and
// no bencoded failure reason.
type StatusError struct {
	StatusCode int
	Snippet    string // start of the body, for the user to read
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("HTTP status %d", e.StatusCode)
	if e.Snippet != "" {
		s += fmt.Sprintf(" (body starts %q)", e.Snippet)
	}
	return s
}

// kindError wraps a cause under a sentinel so that errors.Is finds the
// sentinel and errors.As still finds the cause (*net.DNSError, ...).
type kindError struct {
	kind  error
	cause error
}

func (e *kindError) Error() string {
	if c := e.cause.Error(); strings.Contains(c, e.kind.Error()) {
		return c // "connect: connection refused" says it already
	}
	return e.kind.Error() + ": " + e.cause.Error()
}
func (e *kindError) Unwrap() []error { return []error{e.kind, e.cause} }

// classify maps a transport error to ErrTimeout, ErrDNS or ErrRefused when
// it is one of those, keeping the cause.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrTimeout) || errors.Is(err, ErrDNS) || errors.Is(err, ErrRefused) {
		return err
	}
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return &kindError{ErrTimeout, err}
		}
		return &kindError{ErrDNS, err}
	case errors.Is(err, context.DeadlineExceeded):
		return &kindError{ErrTimeout, err}
	case isRefused(err):
		return &kindError{ErrRefused, err}
	case errors.As(err, &ne) && ne.Timeout():
		return &kindError{ErrTimeout, err}
	}
	return err
}

// Resolver looks up the addresses of a tracker host. *net.Resolver
// implements it; tests inject their own so that no DNS traffic is sent.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Client announces to and scrapes trackers, one request at a time per call:
// it is the transport, and keeps no announce state beyond the UDP connection
// ids and HTTP tracker ids (a Session holds the rest). The zero value is
// ready to use; set fields before the first call and do not change them
// afterwards. A Client is safe for concurrent use. Close it when done: that
// closes the UDP sockets and sends nothing.
type Client struct {
	// HTTP is used for http:// and https:// trackers. If nil, a client
	// resolving through Resolver, following at most 5 redirects, with no
	// proxy and no cookies.
	HTTP *http.Client
	// Resolver resolves tracker host names. If nil, net.DefaultResolver.
	Resolver Resolver
	// PeerID is the peer id announced when a request has none. If zero, a
	// random one with the Azureus-style prefix "-PF0001-", fixed for the
	// Client's life.
	PeerID [20]byte
	// Conn4 and Conn6 are the UDP sockets shared by every UDP tracker of
	// their address family. If nil, one is opened on first use on any port
	// ("udp4"/"udp6"). The Client reads them exclusively from first use on
	// and closes them in Close. A socket connected to one tracker (a
	// *net.UDPConn from net.DialUDP) serves that tracker only, and hears
	// what an unconnected one cannot: the ICMP "port unreachable" of a
	// closed port, which fails its requests at once with ErrRefused
	// instead of after the retransmissions.
	Conn4, Conn6 net.PacketConn
	// UDPTimeout is how long a UDP request waits before its first
	// retransmission; each later wait doubles. If zero, 2 s. BEP 15's
	// 15·2ⁿ s suits a client that runs for days; a command-line run must
	// be done in seconds, and loopback or a nearby tracker answers in
	// milliseconds, so 2 s still leaves room for a slow path.
	UDPTimeout time.Duration
	// UDPRetries is how many times a UDP request is retransmitted before
	// the tracker is declared timed out. If zero, 2 (sends at 0, 2 s and
	// 6 s; gives up at 14 s); if negative, none. The context can always
	// end it earlier.
	UDPRetries int
	// MaxResponseSize caps an HTTP response body, after gzip decoding. If
	// zero, 2 MiB: 200 dictionary peers are about 20 KB.
	MaxResponseSize int64

	initOnce sync.Once
	peerID   [20]byte
	key      uint32
	http     *http.Client

	udpMu     sync.Mutex
	udp4      *udpTransport
	udp6      *udpTransport
	udpClosed bool

	connMu  sync.Mutex
	connIDs map[netip.AddrPort]connEntry // BEP 15 connection ids, by tracker IP *and* port

	stateMu    sync.Mutex
	trackerIDs map[string]string // HTTP "tracker id" by URL, echoed on later announces
}

func (c *Client) init() {
	c.initOnce.Do(func() {
		c.peerID = c.PeerID
		if c.peerID == ([20]byte{}) {
			c.peerID = NewPeerID()
		}
		var k [4]byte
		rand.Read(k[:])
		c.key = binary.BigEndian.Uint32(k[:])
		c.http = c.HTTP
		if c.http == nil {
			c.http = c.defaultHTTPClient()
		}
		c.connIDs = map[netip.AddrPort]connEntry{}
		c.trackerIDs = map[string]string{}
	})
}

// NewPeerID returns a random peer id with peerfind's Azureus-style prefix
// "-PF0001-" (BEP 20).
func NewPeerID() [20]byte {
	var id [20]byte
	copy(id[:], "-PF0001-")
	rand.Read(id[8:])
	return id
}

func (c *Client) resolver() Resolver {
	if c.Resolver != nil {
		return c.Resolver
	}
	return net.DefaultResolver
}

func (c *Client) udpTimeout() time.Duration {
	if c.UDPTimeout > 0 {
		return c.UDPTimeout
	}
	return 2 * time.Second
}

func (c *Client) udpRetries() int {
	switch {
	case c.UDPRetries > 0:
		return c.UDPRetries
	case c.UDPRetries < 0:
		return 0
	}
	return 2
}

func (c *Client) maxResponseSize() int64 {
	if c.MaxResponseSize > 0 {
		return c.MaxResponseSize
	}
	return 2 << 20
}

// fill returns req with the defaults applied.
func (c *Client) fill(req AnnounceRequest) AnnounceRequest {
	if req.PeerID == ([20]byte{}) {
		req.PeerID = c.peerID
	}
	if req.Port == 0 {
		req.Port = DefaultPort
	}
	if req.Left < 0 {
		req.Left = LeftUnknown
	}
	if req.NumWant == 0 {
		req.NumWant = DefaultNumWant
	}
	if req.Key == 0 {
		req.Key = c.key
	}
	return req
}

// Announce announces to one tracker (http, https or udp URL) and returns its
// answer. Errors are *Error.
func (c *Client) Announce(ctx context.Context, trackerURL string, req AnnounceRequest) (*AnnounceResponse, error) {
	c.init()
	req = c.fill(req)
	resp, err := c.announce(ctx, trackerURL, req)
	if err != nil {
		return nil, &Error{URL: trackerURL, Op: "announce", Err: err}
	}
	return resp, nil
}

func (c *Client) announce(ctx context.Context, trackerURL string, req AnnounceRequest) (*AnnounceResponse, error) {
	u, err := parseTrackerURL(trackerURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "udp" {
		return c.announceUDP(ctx, u, req)
	}
	return c.announceHTTP(ctx, u, trackerURL, req)
}

// Scrape asks one tracker for the counts of the given swarms (BEP 48 over
// HTTP, BEP 15 over UDP, several hashes per request). Swarms the tracker
// does not report are absent from the map. Errors are *Error.
func (c *Client) Scrape(ctx context.Context, trackerURL string, hashes ...metainfo.Hash) (map[metainfo.Hash]ScrapeStats, error) {
	c.init()
	m, err := c.scrape(ctx, trackerURL, hashes)
	if err != nil {
		return nil, &Error{URL: trackerURL, Op: "scrape", Err: err}
	}
	return m, nil
}

// Close closes the UDP sockets (also ones given in Conn4 and Conn6) and
// waits for their readers, and drops idle HTTP connections of the Client's
// own HTTP client. It sends nothing: leaving the swarms is Session.Stop's
// job. Calls in flight fail. It returns the first socket close error.
func (c *Client) Close() error {
	c.init()
	if c.HTTP == nil {
		c.http.CloseIdleConnections() // our own transport: leave no keep-alive behind
	}
	c.udpMu.Lock()
	if c.udpClosed {
		c.udpMu.Unlock()
		return nil
	}
	t4, t6 := c.udp4, c.udp6
	c.udp4, c.udp6 = nil, nil
	c.udpClosed = true
	c.udpMu.Unlock()
	var first error
	for _, tc := range []struct {
		t     *udpTransport
		given net.PacketConn
	}{{t4, c.Conn4}, {t6, c.Conn6}} {
		var err error
		switch {
		case tc.t != nil:
			err = tc.t.close()
		case tc.given != nil: // given but never used: still ours to close
			err = tc.given.Close()
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// NormalizeURL returns the form of a tracker URL used to spot duplicates
// (a Session asks each normalized URL once): scheme and host lower-cased,
// default ports and a trailing "/" removed; path and query kept as they are,
// since passkeys are case-sensitive. A URL that does not parse is returned
// trimmed.
func NormalizeURL(s string) string {
	u, err := parseTrackerURL(s)
	if err != nil {
		return strings.TrimSpace(s)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	switch {
	case u.Scheme == "http" && port == "80", u.Scheme == "https" && port == "443":
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	s = u.Scheme + "://" + host + path
	if u.RawQuery != "" {
		s += "?" + u.RawQuery
	}
	return s
}
