// Package dhtinterop tests peerfind's Mainline DHT node (package dht) against
// DHT implementations written by others, all on loopback: anacrolix/dht v2
// (in-process) and libtorrent 2.0 (through python3-libtorrent, driven by
// lt.py node, in internal/thirdparty). It also holds BenchmarkLookup, which
// compares our iterative get_peers lookup with anacrolix's on the same
// network.
//
// The package lives in the nested interop module so that the third-party
// modules never enter the graph of peerfind's library users. It has no API;
// everything is in its tests.
package dhtinterop
