// Package thirdparty starts and drives third-party BitTorrent software on
// loopback for the interop tests and the lookup benchmark: anacrolix/dht v2
// servers with a correct peer store, the python3-libtorrent driver, and a
// PacketConn wrapper that adds latency. It is test support code: it lives in
// the nested interop module so that library users never see these modules,
// and it never logs or prints.
package thirdparty
