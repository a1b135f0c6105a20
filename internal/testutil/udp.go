package testutil

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"
)

// UDPExchange sends req to addr from a fresh socket and returns the first
// datagram that comes back within 200 ms.
func UDPExchange(addr string, req []byte) ([]byte, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	resp := make([]byte, 2048)
	n, err := c.Read(resp)
	if err != nil {
		return nil, err
	}
	return resp[:n], nil
}

// UDPConnect runs one BEP 15 connect exchange by hand with the UDP tracker
// at addr and returns the connection id, waiting up to 200 ms for the
// reply.
func UDPConnect(addr string) (uint64, error) {
	var req [16]byte
	binary.BigEndian.PutUint64(req[0:], 0x41727101980) // BEP 15 protocol id
	binary.BigEndian.PutUint32(req[8:], 0)             // action connect
	binary.BigEndian.PutUint32(req[12:], 0x5eed)       // transaction id
	resp, err := UDPExchange(addr, req[:])
	if err != nil {
		return 0, err
	}
	if len(resp) < 16 || binary.BigEndian.Uint32(resp[0:]) != 0 || binary.BigEndian.Uint32(resp[4:]) != 0x5eed {
		return 0, fmt.Errorf("udp %s: not a BEP 15 connect reply: % x", addr, resp)
	}
	return binary.BigEndian.Uint64(resp[8:]), nil
}

// FreePorts returns a TCP and a UDP port on 127.0.0.1 that were free a
// moment ago. A third-party daemon cannot take a listening socket from us,
// so the caller binds them again and retries when another process won the
// race.
func FreePorts() (tcp, udp int, err error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer l.Close()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer pc.Close()
	return l.Addr().(*net.TCPAddr).Port, pc.LocalAddr().(*net.UDPAddr).Port, nil
}
