package main

// Flag values are checked before anything touches the network: a bad one
// is a usage error (exit status 2) naming the flag and what it wants,
// never a run-time failure repeated per tracker or a strconv message.

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// checkTrackerFlag checks a --tracker value: an http, https or udp URL with
// a host, and for udp a port (BEP 15 has no default one).
func checkTrackerFlag(s string) error {
	want := "wants an http://, https:// or udp:// tracker URL such as udp://tracker.example.org:1337/announce"
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" {
		return usageError("--tracker %q: %s", s, want)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "udp":
		if u.Port() == "" {
			return usageError("--tracker %q: a udp:// tracker needs a port (udp://host:port)", s)
		}
	default:
		return usageError("--tracker %q: scheme %q is not a tracker protocol; %s", s, u.Scheme, want)
	}
	if u.Hostname() == "" {
		return usageError("--tracker %q: %s", s, want)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return usageError("--tracker %q: port %s is not 1–65535", s, p)
		}
	}
	return nil
}

// checkHostPortFlag checks a host:port flag value (--bootstrap).
func checkHostPortFlag(flag, s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return usageError("--%s %q: want host:port, e.g. router.bittorrent.com:6881 or 127.0.0.1:6881", flag, s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return usageError("--%s %q: port %s is not 1–65535", flag, s, port)
	}
	return nil
}

// portFlag is a port number flag (--port): 1–65535, said in those words.
type portFlag struct{ p *uint16 }

func (f portFlag) String() string {
	if f.p == nil {
		return "0"
	}
	return strconv.Itoa(int(*f.p))
}

func (f portFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("want a port number 1–65535, got %q", s)
	}
	*f.p = uint16(n)
	return nil
}

func (f portFlag) Type() string { return "port" }

// strconvDetail matches the strconv text pflag puts in its errors
// (`strconv.ParseInt: parsing "abc": invalid syntax`), which says nothing a
// user needs beyond the flag and value pflag names already.
var strconvDetail = regexp.MustCompile(`strconv\.Parse\w+: parsing "[^"]*": `)

// plainFlagError rewrites pflag's value errors in plain words.
func plainFlagError(err error) error {
	msg := strconvDetail.ReplaceAllString(err.Error(), "")
	msg = strings.Replace(msg, ": invalid syntax", ": not a number", 1)
	msg = strings.Replace(msg, ": value out of range", ": out of range", 1)
	if i := strings.Index(msg, "time: invalid duration"); i >= 0 {
		msg = msg[:i] + "want a duration such as 30s, 1m30s or 0"
	}
	if msg == err.Error() {
		return err
	}
	return fmt.Errorf("%s", msg)
}
