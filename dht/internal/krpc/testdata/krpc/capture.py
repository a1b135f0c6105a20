#!/usr/bin/python3
"""Captures real KRPC packets from libtorrent 2.0 (Debian python3-libtorrent)
on loopback, as fuzz seeds and decode vectors for dht/internal/krpc/krpc_test.go.

Run with Debian's /usr/bin/python3 from this directory. A libtorrent session
with only the DHT on 127.0.0.1 bootstraps off a plain UDP socket of this
script, so its own queries arrive here (lt-q-*.bin); the script then sends
queries of its own and saves the replies (lt-r-*.bin, lt-e-*.bin). Every
wait is bounded; nothing leaves loopback.
"""
import socket, time, os, libtorrent as lt

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
sock.settimeout(0.5)
me = sock.getsockname()

ses = lt.session({
    "enable_dht": True, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
    "dht_bootstrap_nodes": "%s:%d" % me, "listen_interfaces": "127.0.0.1:0",
    "dht_restrict_routing_ips": False, "dht_restrict_search_ips": False,
    "dht_prefer_verified_node_ids": False, "dht_block_ratelimit": 1000,
})
port = ses.listen_port()
lt_addr = ("127.0.0.1", port)
myid = b"abcdefghij0123456789"
ih = b"mnopqrstuvwxyz123456"

def save(name, data):
    with open(name, "wb") as f:
        f.write(data)

# libtorrent's own queries (bootstrap find_node, then pings).
seen = set()
deadline = time.time() + 8
while time.time() < deadline and len(seen) < 2:
    try:
        data, frm = sock.recvfrom(2048)
    except socket.timeout:
        continue
    q = data.split(b"1:q", 1)[1][:20] if b"1:q" in data else b""
    method = q.split(b":", 1)[1][: int(q.split(b":", 1)[0])] if b":" in q else b"x"
    if method not in seen:
        seen.add(method)
        save("lt-q-%s.bin" % method.decode(), data)

def ask(name, payload):
    sock.sendto(payload, lt_addr)
    end = time.time() + 3
    while time.time() < end:
        try:
            data, frm = sock.recvfrom(2048)
        except socket.timeout:
            continue
        if frm == lt_addr and b"1:y1:q" not in data:
            save(name, data)
            return data
    return None

ask("lt-r-ping.bin", b"d1:ad2:id20:" + myid + b"e1:q4:ping1:t2:aa1:y1:qe")
ask("lt-r-find_node.bin", b"d1:ad2:id20:" + myid + b"6:target20:" + ih + b"e1:q9:find_node1:t2:ab1:y1:qe")
r = ask("lt-r-get_peers.bin", b"d1:ad2:id20:" + myid + b"9:info_hash20:" + ih + b"e1:q9:get_peers1:t2:ac1:y1:qe")
tok = r.split(b"5:token", 1)[1] if r and b"5:token" in r else b"0:"
n, rest = tok.split(b":", 1)
token = rest[: int(n)]
ask("lt-r-announce_peer.bin", b"d1:ad2:id20:" + myid + b"9:info_hash20:" + ih + b"4:porti6881e5:token" +
    str(len(token)).encode() + b":" + token + b"e1:q13:announce_peer1:t2:ad1:y1:qe")
ask("lt-r-get_peers-values.bin", b"d1:ad2:id20:" + myid + b"9:info_hash20:" + ih + b"e1:q9:get_peers1:t2:ae1:y1:qe")
ask("lt-e-bad-token.bin", b"d1:ad2:id20:" + myid + b"9:info_hash20:" + ih + b"4:porti6881e5:token4:xxxxe1:q13:announce_peer1:t2:af1:y1:qe")
ask("lt-e-unknown.bin", b"d1:ad2:id20:" + myid + b"e1:q4:vote1:t2:ag1:y1:qe")
ask("lt-r-find_node-want.bin", b"d1:ad2:id20:" + myid + b"6:target20:" + ih + b"4:wantl2:n42:n6ee1:q9:find_node1:t2:ah1:y1:qe")
del ses
