// Package e2e holds end-to-end tests of the peerfind command against real
// third-party BitTorrent software on loopback: opentracker (Debian), a
// network of anacrolix/dht v2 nodes, and a libtorrent 2.0 client
// (python3-libtorrent, lt.py seed) that announces itself to both. The
// tests build the binary once and run it as a user would, checking what it
// prints against what the third-party side holds.
//
// The package has no non-test code; this file only carries the package
// comment.
package e2e
