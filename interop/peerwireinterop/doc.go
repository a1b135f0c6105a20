// Package peerwireinterop tests package peerwire against real BitTorrent
// clients on loopback: libtorrent 2.0 (python3-libtorrent, driven by
// thirdparty's lt.py) and Transmission 3.00 (transmission-daemon), each
// seeding a torrent it made or was given, and a libtorrent leecher. The
// tests are the evidence that peerwire reads what real clients send: their
// handshakes, client names, bitfields, ut_pex messages and metadata.
package peerwireinterop
