#!/usr/bin/python3
"""A libtorrent DHT node for peerfind's DHT interop tests, driven over stdio.

Run with Debian's /usr/bin/python3 (python3-libtorrent, libtorrent 2.0).
The session has only the DHT enabled and talks to nothing but the loopback
nodes it is given. Commands arrive one per line on stdin; results and
asynchronous events leave as JSON objects, one per line, on stdout. The
process exits when stdin closes, on "quit", or after --max-seconds, so it can
never outlive the test that started it.

Commands:
  announce <hex>          add a torrent (magnet) for the hash: libtorrent then
                          announces it to the DHT as clients do, with its
                          listen port (implied_port: uTP is on), every
                          dht_announce_interval seconds
  get_peers <hex>         dht_get_peers; answered by a "get_peers_reply" event
  live_nodes              the routing table's live nodes ("live_nodes" event)
  stats                   post_dht_stats ("dht_stats" event)
  add_node <host> <port>  add_dht_node (pinged, then inserted if it answers)
  heard                   addresses this node has received DHT packets from
  id                      the current node id ("id" event; libtorrent may
                          change it when it learns its external IP)
  quit

Events: ready, id, announce_started, get_peers_reply, live_nodes, dht_stats,
incoming_announce, incoming_get_peers, heard, error, and (with --log) log.
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import warnings

import libtorrent as lt

_out_lock = threading.Lock()


def emit(obj):
    with _out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def endpoint(ep):
    """Formats a (host, port) tuple as host:port ([host]:port for IPv6)."""
    host, port = ep[0], ep[1]
    if ":" in host:
        return "[%s]:%d" % (host, port)
    return "%s:%d" % (host, port)


def make_session(args):
    sp = {
        "enable_dht": True,
        # Nothing but the DHT: no local discovery, no port mapping, and no
        # default bootstrap host (dht.libtorrent.org) — the tests are offline.
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_bootstrap_nodes": args.bootstrap,
        "listen_interfaces": "%s:0" % args.listen,
        # All of 127.x is one /24 to libtorrent's routing-table and search
        # restrictions, and BEP 42 ids cannot be verified for 127.x.
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_prefer_verified_node_ids": False,
        "allow_multiple_connections_per_ip": True,
        # The default 8000 B/s DHT upload limit and 5 packets/s per-IP block
        # are tuned for the Internet; on loopback a test network's lookups
        # would trip them and turn into timeouts.
        "dht_upload_rate_limit": 1 << 20,
        "dht_block_ratelimit": 1000,
        # Torrents are announced every dht_announce_interval / #torrents
        # seconds; the first announce comes one interval after the DHT starts.
        "dht_announce_interval": args.announce_interval,
        "alert_mask": lt.alert.category_t.dht_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.error_notification
        | lt.alert.category_t.dht_log_notification
        | lt.alert.category_t.dht_operation_notification,
    }
    return lt.session(sp)


class Node:
    def __init__(self, args):
        self.args = args
        self.ses = make_session(args)
        self.lock = threading.Lock()
        self.heard = set()
        self.node_id = None
        self.ready = False
        self.udp_port = 0
        self.stop = threading.Event()

    def node_id_hex(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            st = self.ses.dht_state()
        ids = st.get(b"node-id") or st.get("node-id") or []
        if not ids:
            return None
        # node-id holds the 20-byte id followed by the address it belongs to
        # (libtorrent 2.0 keeps one id per listen interface).
        return bytes(ids[0])[:20].hex()

    def pump_alerts(self):
        # dht_pkt_alert messages read "<== [host:port] {...}" (incoming) and
        # "==> [host:port] {...}" (outgoing).
        pkt_re = re.compile(r"^\s*<==\s*\[([^\]]+)\]")
        while not self.stop.is_set():
            self.ses.wait_for_alert(100)
            for a in self.ses.pop_alerts():
                self.handle_alert(a, pkt_re)
            if not self.ready:
                self.check_ready()

    def check_ready(self):
        if not self.ses.is_dht_running() or self.udp_port == 0:
            return
        nid = self.node_id_hex()
        if nid is None:
            return
        self.node_id = nid
        self.ready = True
        emit({"event": "ready", "addr": "%s:%d" % (self.args.listen, self.udp_port), "id": nid})

    def handle_alert(self, a, pkt_re):
        if isinstance(a, lt.listen_succeeded_alert):
            # The DHT shares the uTP (UDP) socket.
            if a.socket_type == lt.socket_type_t.utp or a.socket_type == lt.socket_type_t.udp:
                self.udp_port = a.port
        elif isinstance(a, lt.listen_failed_alert):
            emit({"event": "error", "msg": a.message()})
        elif isinstance(a, lt.dht_get_peers_reply_alert):
            emit({
                "event": "get_peers_reply",
                "info_hash": str(a.info_hash),
                "peers": [endpoint(p) for p in a.peers()],
            })
        elif isinstance(a, lt.dht_live_nodes_alert):
            # Each entry is {"nid": sha1_hash, "endpoint": (host, port)}.
            emit({
                "event": "live_nodes",
                "nodes": [{"id": str(n["nid"]), "addr": endpoint(n["endpoint"])} for n in a.nodes],
            })
        elif isinstance(a, lt.dht_stats_alert):
            emit({
                "event": "dht_stats",
                "buckets": [{"nodes": b["num_nodes"], "replacements": b["num_replacements"]} for b in a.routing_table],
                "active_requests": len(a.active_requests),
            })
        elif isinstance(a, lt.dht_announce_alert):
            emit({"event": "incoming_announce", "info_hash": str(a.info_hash), "ip": str(a.ip), "port": a.port})
        elif isinstance(a, lt.dht_get_peers_alert):
            emit({"event": "incoming_get_peers", "info_hash": str(a.info_hash)})
        elif isinstance(a, lt.dht_pkt_alert):
            if self.args.log:
                emit({"event": "log", "msg": "pkt " + a.message()})
            m = pkt_re.search(a.message())
            if m:
                with self.lock:
                    self.heard.add(m.group(1))
        elif isinstance(a, lt.dht_log_alert):
            if self.args.log:
                emit({"event": "log", "msg": a.message()})

    def command(self, line):
        parts = line.split()
        if not parts:
            return True
        cmd = parts[0]
        try:
            if cmd == "quit":
                return False
            if cmd == "announce" and len(parts) == 2:
                # session.dht_announce is unusable from python3-libtorrent
                # 2.0.8: its flags argument (dht::announce_flags_t) has no
                # Python converter, so no call matches. A torrent is what
                # clients announce anyway.
                atp = lt.add_torrent_params()
                atp.info_hashes = lt.info_hash_t(lt.sha1_hash(bytes.fromhex(parts[1])))
                atp.save_path = self.args.save_path
                atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
                self.ses.add_torrent(atp)
                emit({"event": "announce_started", "info_hash": parts[1], "port": self.ses.listen_port()})
            elif cmd == "get_peers" and len(parts) == 2:
                self.ses.dht_get_peers(lt.sha1_hash(bytes.fromhex(parts[1])))
            elif cmd == "live_nodes":
                self.ses.dht_live_nodes(lt.sha1_hash(bytes.fromhex(self.node_id or "00" * 20)))
            elif cmd == "stats":
                self.ses.post_dht_stats()
            elif cmd == "add_node" and len(parts) == 3:
                self.ses.add_dht_node((parts[1], int(parts[2])))
            elif cmd == "id":
                emit({"event": "id", "id": self.node_id_hex()})
            elif cmd == "heard":
                with self.lock:
                    heard = sorted(self.heard)
                emit({"event": "heard", "nodes": heard})
            else:
                emit({"event": "error", "msg": "bad command: %r" % line})
        except Exception as e:  # report, keep serving: the test decides
            emit({"event": "error", "msg": "%s: %s" % (cmd, e)})
        return True


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", required=True, help="loopback IP to bind, e.g. 127.1.2.3")
    p.add_argument("--bootstrap", default="", help="dht_bootstrap_nodes: host:port,host:port")
    p.add_argument("--nodes", default="", help="host:port,... added with add_dht_node at start")
    p.add_argument("--max-seconds", type=float, default=120)
    p.add_argument("--announce-interval", type=int, default=5, help="dht_announce_interval, seconds")
    p.add_argument("--log", action="store_true", help="forward DHT log lines as events")
    args = p.parse_args()

    args.save_path = tempfile.mkdtemp(prefix="lt_node_")
    node = Node(args)
    for hp in filter(None, args.nodes.split(",")):
        host, _, port = hp.rpartition(":")
        node.ses.add_dht_node((host.strip("[]"), int(port)))
    pump = threading.Thread(target=node.pump_alerts, daemon=True)
    pump.start()

    # The deadline guards against a parent that neither closes stdin nor
    # kills us; stdin EOF is the normal end.
    deadline = threading.Timer(args.max_seconds, lambda: (emit({"event": "error", "msg": "max-seconds reached"}), node.stop.set()))
    deadline.daemon = True
    deadline.start()
    reader_done = threading.Event()

    def read_stdin():
        for line in sys.stdin:
            if not node.command(line.strip()):
                break
        reader_done.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    while not reader_done.is_set() and not node.stop.is_set():
        reader_done.wait(0.2)
    node.stop.set()
    pump.join(2)
    # Skip libtorrent's orderly shutdown (it may try to reach trackers or
    # save state); the test only needs the process gone.
    sys.stdout.flush()
    shutil.rmtree(args.save_path, ignore_errors=True)
    os._exit(0)


if __name__ == "__main__":
    main()
