package tracker

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/peerfind/peerfind/bencode"
	"github.com/peerfind/peerfind/internal/compact"
	"github.com/peerfind/peerfind/metainfo"
)

// ServeHTTP answers BEP 3 announces and BEP 48 scrapes: a request whose
// last path element starts with "announce" or "scrape". The peer's address
// is the "ip" parameter when it is an IP address, else the connection's.
// Errors are bencoded "failure reason"s with status 200, as trackers do.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	last := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	switch {
	case strings.HasPrefix(last, "announce"):
		s.serveAnnounce(w, r)
	case strings.HasPrefix(last, "scrape"):
		s.serveScrape(w, r)
	default:
		http.NotFound(w, r)
	}
}

func writeBencode(w http.ResponseWriter, v any) {
	b, err := bencode.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

func writeFailure(w http.ResponseWriter, reason string) {
	writeBencode(w, map[string]any{"failure reason": reason})
}

func (s *Server) serveAnnounce(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ih := q.Get("info_hash")
	if len(ih) != 20 {
		writeFailure(w, "invalid info_hash")
		return
	}
	if len(q.Get("peer_id")) != 20 {
		writeFailure(w, "invalid peer_id")
		return
	}
	port, err := strconv.ParseUint(q.Get("port"), 10, 16)
	if err != nil || port == 0 {
		writeFailure(w, "invalid port")
		return
	}
	left, err := strconv.ParseInt(q.Get("left"), 10, 64)
	if err != nil {
		writeFailure(w, "invalid left")
		return
	}
	var ev Event
	switch q.Get("event") {
	case "", "empty":
	case "started":
		ev = EventStarted
	case "completed":
		ev = EventCompleted
	case "stopped":
		ev = EventStopped
	default:
		writeFailure(w, "invalid event")
		return
	}
	numWant, _ := strconv.Atoi(q.Get("numwant"))
	ip, err := netip.ParseAddr(q.Get("ip"))
	if err != nil {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if ip, err = netip.ParseAddr(host); err != nil {
			writeFailure(w, "cannot tell your address")
			return
		}
	}
	ip = ip.Unmap().WithZone("")
	a := s.announce(metainfo.Hash([]byte(ih)), netip.AddrPortFrom(ip, uint16(port)), ev, left, numWant,
		func(netip.AddrPort) bool { return true })
	resp := map[string]any{
		"interval":     int64(a.interval.Seconds()),
		"min interval": int64(a.minInterval.Seconds()),
		"complete":     int64(a.seeders),
		"incomplete":   int64(a.leechers),
		"external ip":  string(ip.AsSlice()), // BEP 24
	}
	if q.Get("compact") == "0" {
		list := make([]any, 0, len(a.peers))
		for _, p := range a.peers {
			list = append(list, map[string]any{"ip": p.Addr().String(), "port": int64(p.Port())})
		}
		resp["peers"] = list
	} else {
		// BEP 23 compact IPv4 in "peers", BEP 7 compact IPv6 in "peers6".
		var p4, p6 []byte
		for _, p := range a.peers {
			if p.Addr().Is4() {
				p4 = compact.AppendPeer(p4, p)
			} else {
				p6 = compact.AppendPeer(p6, p)
			}
		}
		resp["peers"] = string(p4)
		if len(p6) > 0 {
			resp["peers6"] = string(p6)
		}
	}
	writeBencode(w, resp)
}

func (s *Server) serveScrape(w http.ResponseWriter, r *http.Request) {
	var hashes []metainfo.Hash
	for _, ih := range r.URL.Query()["info_hash"] {
		if len(ih) != 20 {
			writeFailure(w, "invalid info_hash")
			return
		}
		hashes = append(hashes, metainfo.Hash([]byte(ih)))
	}
	if len(hashes) == 0 {
		hashes = s.allHashes() // a full scrape
	}
	stats := s.scrape(hashes)
	files := make(map[string]any, len(hashes))
	for i, h := range hashes {
		files[string(h[:])] = map[string]any{
			"complete":   int64(stats[i].Seeders),
			"downloaded": int64(stats[i].Completed),
			"incomplete": int64(stats[i].Leechers),
		}
	}
	writeBencode(w, map[string]any{"files": files})
}
