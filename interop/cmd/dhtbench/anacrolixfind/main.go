// Command anacrolixfind is anacrolix/dht v2's get_peers traversal as a
// one-shot finder for dhtbench: it prints every new peer as "ip:port" as
// soon as a reply brings it, and exits when the traversal ends.
//
// anacrolix/dht's own cmd/dht get-peers is not used: it asks a public
// service for our IP address first (network traffic beyond loopback), and
// prints the peers only at the end. This driver calls the same library
// function (Server.AnnounceTraversal with no announce) with the library's
// default server config, bootstrapped from the one node given.
package main

import (
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/log"
)

func main() {
	listen := flag.String("listen", "127.0.0.1", "IP to bind")
	bootstrap := flag.String("bootstrap", "", "the bootstrap node, host:port")
	ihHex := flag.String("info-hash", "", "the info hash, 40 hex digits")
	maxTime := flag.Duration("max-time", time.Minute, "give up after this long")
	flag.Parse()
	if err := run(*listen, *bootstrap, *ihHex, *maxTime); err != nil {
		fmt.Fprintln(os.Stderr, "anacrolixfind:", err)
		os.Exit(1)
	}
}

func run(listen, bootstrap, ihHex string, maxTime time.Duration) error {
	b, err := hex.DecodeString(ihHex)
	if err != nil || len(b) != 20 {
		return fmt.Errorf("-info-hash %q: want 40 hex digits", ihHex)
	}
	ih := [20]byte(b)
	conn, err := net.ListenPacket("udp4", net.JoinHostPort(listen, "0"))
	if err != nil {
		return err
	}
	cfg := dht.NewDefaultServerConfig()
	cfg.Conn = conn
	cfg.NoSecurity = true // BEP 42 ids cannot match 127.x addresses
	cfg.Logger = log.Default.FilterLevel(log.Error)
	cfg.StartingNodes = func() ([]dht.Addr, error) { return dht.ResolveHostPorts([]string{bootstrap}) }
	s, err := dht.NewServer(cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	a, err := s.AnnounceTraversal(ih)
	if err != nil {
		return err
	}
	defer a.Close()
	seen := map[string]bool{}
	deadline := time.After(maxTime)
	for {
		select {
		case <-deadline:
			a.StopTraversing()
			return nil
		case ps, ok := <-a.Peers:
			if !ok {
				return nil
			}
			for _, p := range ps.Peers {
				k := p.String()
				if !seen[k] {
					seen[k] = true
					fmt.Println(k)
				}
			}
		}
	}
}
