package tracker

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"
)

// ServeUDP answers BEP 15 connect, announce and scrape requests arriving on
// conn until ctx is done (it then returns nil) or reading fails (it returns
// the error, e.g. net.ErrClosed). It does not close conn. An announce gets
// peers of the family it arrived over: 6-byte entries over IPv4, 18-byte
// over IPv6. BEP 41 options are parsed and their URL data ignored.
func (s *Server) ServeUDP(ctx context.Context, conn net.PacketConn) error {
	s.init()
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, udpReadBuf)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				conn.SetReadDeadline(time.Time{})
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, net.ErrClosed) {
				continue
			}
			return err
		}
		if out := s.handleUDP(buf[:n], addrPortOf(from), time.Now()); out != nil {
			conn.WriteTo(out, from)
		}
	}
}

// handleUDP returns the reply to one packet, or nil to stay silent.
func (s *Server) handleUDP(b []byte, from netip.AddrPort, now time.Time) []byte {
	req, err := parseUDPRequest(b)
	if err != nil {
		if len(b) >= 16 {
			return appendErrorResponse(nil, req16TxID(b), err.Error())
		}
		return nil
	}
	if req.Connect {
		return appendConnectResponse(nil, req.TxID, s.connID(from, now.Unix()/60))
	}
	if !s.validConnID(from, req.ConnID, now) {
		return appendErrorResponse(nil, req.TxID, "connection ID mismatch")
	}
	switch req.Action {
	case actionAnnounce:
		if req.Announce.Port == 0 {
			return appendErrorResponse(nil, req.TxID, "invalid port")
		}
		is4 := from.Addr().Is4()
		a := s.announce(req.Announce.InfoHash, netip.AddrPortFrom(from.Addr(), req.Announce.Port),
			req.Announce.Event, req.Announce.Left, req.Announce.NumWant,
			func(p netip.AddrPort) bool { return p.Addr().Is4() == is4 })
		return appendAnnounceResponse(nil, req.TxID, a.interval, a.leechers, a.seeders, a.peers)
	case actionScrape:
		return appendScrapeResponse(nil, req.TxID, s.scrape(req.Hashes))
	}
	return nil
}

// req16TxID reads the transaction id of a request too malformed to parse,
// so the error packet can still be matched by the client.
func req16TxID(b []byte) uint32 {
	return uint32(b[12])<<24 | uint32(b[13])<<16 | uint32(b[14])<<8 | uint32(b[15])
}
