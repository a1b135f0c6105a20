#!/usr/bin/python3
"""libtorrent for peerfind's interop tests, driven over stdio.

Run with Debian's /usr/bin/python3 (python3-libtorrent, libtorrent 2.0). Every
session has nothing enabled but what the mode needs and talks to nothing but
the loopback addresses it is given (no LSD, UPnP, NAT-PMP, default DHT
routers). The long-running modes take commands one per line on stdin and
print results and asynchronous events as JSON objects, one per line, on
stdout; they exit when stdin closes, on "quit", or after --max-seconds, so
they can never outlive the test that started them.

  lt.py node --listen IP [--bootstrap host:port,...] [--nodes host:port,...]
             [--announce-interval S] [--log]
      a DHT node (the DHT interop tests). Commands:
        announce <hex>          add a torrent (magnet) for the hash: libtorrent
                                then announces it to the DHT as clients do,
                                with its listen port (implied_port: uTP is
                                on), every dht_announce_interval seconds
        get_peers <hex>         dht_get_peers; answered by "get_peers_reply"
        live_nodes              the routing table's live nodes ("live_nodes")
        stats                   post_dht_stats ("dht_stats")
        add_node <host> <port>  add_dht_node (pinged, then inserted if it
                                answers)
        heard                   addresses this node has received DHT packets
                                from
        id                      the current node id ("id"; libtorrent may
                                change it when it learns its external IP)
        quit
      Events: ready, id, announce_started, get_peers_reply, live_nodes,
      dht_stats, incoming_announce, incoming_get_peers, heard, error, and
      (with --log) log.

  lt.py seed --dir D --torrent T --listen IP [--bootstrap ...] [--nodes ...]
             [--connect host:port,...] [--no-announce] [--download-limit B]
      seeds T from D/content (the end-to-end tests): a session that
      announces itself to the torrent's tracker and to the DHT. Events:
      ready (listen address), tracker (announce replies), tracker_error,
      dht_reply (a DHT get_peers + announce_peer round ended), error.
      Commands: "reannounce" (force tracker and DHT announces), "status"
      (pieces had, peers connected: "status"), "quit".
      With D/content empty it is a leecher. --connect makes it connect to
      those peers (connect_peer); --no-announce turns off its trackers and
      its DHT, so that it is known only to the peers it connects to (the
      peer-wire tests: a peer reachable only through PEX);
      --download-limit caps its download rate, in bytes/s, so that a
      leecher stays one for the length of a test.

  lt.py create --dir D --tracker URL [--files N] [--hybrid] [--size B]
      writes D/content/<name> (random bytes), makes a .torrent of it with
      libtorrent's create_torrent, announce URL = --tracker, and prints one
      JSON object describing it as libtorrent reads it: torrent (path),
      info_hash, info_hash_v2, magnet, name, total_size, piece_length,
      num_pieces, trackers, files. --files N makes a directory of N files,
      --hybrid a v1+v2 torrent (libtorrent 2.0's default; v1 otherwise).

  lt.py magnet URI
      prints what libtorrent's parse_magnet_uri reads from URI: info_hash,
      info_hash_v2, name, trackers.

--bootstrap becomes dht_bootstrap_nodes, which libtorrent treats as routers
(queried, never kept in its table); --nodes are added with add_dht_node.
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


def endpoint(host, port):
    """Formats host:port ([host]:port for IPv6)."""
    if ":" in host:
        return "[%s]:%d" % (host, port)
    return "%s:%d" % (host, port)


def session(args, alerts, **extra):
    """A session with only the DHT and what extra adds, on args.listen."""
    sp = {
        "enable_dht": True,
        # No local discovery, no port mapping, and no default bootstrap host
        # (dht.libtorrent.org): the tests are offline.
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_bootstrap_nodes": args.bootstrap,
        "listen_interfaces": "%s:0" % args.listen,
        # All of 127.x is one /24 to libtorrent's routing-table and search
        # restrictions, and BEP 42 ids cannot be verified for 127.x
        # (docs/interop.md).
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_prefer_verified_node_ids": False,
        "allow_multiple_connections_per_ip": True,
        # The default 8000 B/s DHT upload limit and 5 packets/s per-IP block
        # are tuned for the Internet; on loopback a test network's lookups
        # would trip them and turn into timeouts.
        "dht_upload_rate_limit": 1 << 20,
        "dht_block_ratelimit": 1000,
        "alert_mask": alerts,
    }
    sp.update(extra)
    ses = lt.session(sp)
    for hp in filter(None, args.nodes.split(",")):
        host, _, port = hp.rpartition(":")
        ses.add_dht_node((host.strip("[]"), int(port)))
    return ses


def serve(args, pump, command, on_deadline, cleanup=None):
    """Runs pump(stop) in a thread and command(line) for each stdin line
    until stdin closes, command returns False, or --max-seconds pass; then
    exits at once."""
    stop = threading.Event()
    t = threading.Thread(target=pump, args=(stop,), daemon=True)
    t.start()

    # The deadline guards against a parent that neither closes stdin nor
    # kills us; stdin EOF is the normal end.
    def deadline():
        on_deadline()
        stop.set()

    timer = threading.Timer(args.max_seconds, deadline)
    timer.daemon = True
    timer.start()
    done = threading.Event()

    def read_stdin():
        for line in sys.stdin:
            if not command(line.strip()):
                break
        done.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    while not done.is_set() and not stop.is_set():
        done.wait(0.2)
    stop.set()
    t.join(2)
    sys.stdout.flush()
    if cleanup:
        cleanup()
    # Skip libtorrent's orderly shutdown (a `stopped` announce, state
    # saving): the test only needs the process gone.
    os._exit(0)


class Node:
    """The DHT node of the node mode."""

    def __init__(self, args):
        self.args = args
        self.ses = session(
            args,
            lt.alert.category_t.dht_notification
            | lt.alert.category_t.status_notification
            | lt.alert.category_t.error_notification
            | lt.alert.category_t.dht_log_notification
            | lt.alert.category_t.dht_operation_notification,
            # Torrents are announced every dht_announce_interval / #torrents
            # seconds; the first announce comes one interval after the DHT
            # starts.
            dht_announce_interval=args.announce_interval,
        )
        self.lock = threading.Lock()
        self.heard = set()
        self.node_id = None
        self.ready = False
        self.udp_port = 0

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

    def pump_alerts(self, stop):
        # dht_pkt_alert messages read "<== [host:port] {...}" (incoming) and
        # "==> [host:port] {...}" (outgoing).
        pkt_re = re.compile(r"^\s*<==\s*\[([^\]]+)\]")
        while not stop.is_set():
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
                "peers": [endpoint(*p) for p in a.peers()],
            })
        elif isinstance(a, lt.dht_live_nodes_alert):
            # Each entry is {"nid": sha1_hash, "endpoint": (host, port)}.
            emit({
                "event": "live_nodes",
                "nodes": [{"id": str(n["nid"]), "addr": endpoint(*n["endpoint"])} for n in a.nodes],
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


def node(args):
    args.save_path = tempfile.mkdtemp(prefix="lt_node_")
    n = Node(args)
    serve(args, n.pump_alerts, n.command,
          lambda: emit({"event": "error", "msg": "max-seconds reached"}),
          lambda: shutil.rmtree(args.save_path, ignore_errors=True))


def seed(args):
    extra = {}
    if args.no_announce:
        extra["enable_dht"] = False
    ses = session(
        args,
        lt.alert.category_t.status_notification
        | lt.alert.category_t.error_notification
        | lt.alert.category_t.tracker_notification
        | lt.alert.category_t.dht_notification,
        # Tracker connections leave from the listen IP, so the tracker sees
        # the same address the DHT nodes do.
        outgoing_interfaces=args.listen,
        announce_to_all_tiers=True,
        announce_to_all_trackers=True,
        dht_announce_interval=5,
        **extra
    )
    ti = lt.torrent_info(args.torrent)
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = os.path.join(args.dir, "content")
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    h = ses.add_torrent(atp)
    if args.no_announce:
        h.replace_trackers([])
    if args.download_limit > 0:
        h.set_download_limit(args.download_limit)
    state = {"port": 0, "ready": False, "connected": False}

    def pump(stop):
        while not stop.is_set():
            ses.wait_for_alert(100)
            for a in ses.pop_alerts():
                if isinstance(a, lt.listen_succeeded_alert):
                    if a.socket_type == lt.socket_type_t.tcp:
                        state["port"] = a.port
                elif isinstance(a, lt.listen_failed_alert):
                    emit({"event": "error", "msg": a.message()})
                elif isinstance(a, lt.tracker_reply_alert):
                    emit({"event": "tracker", "url": a.url, "peers": a.num_peers})
                elif isinstance(a, lt.tracker_error_alert):
                    emit({"event": "tracker_error", "url": a.url, "msg": a.message()})
                elif isinstance(a, lt.dht_reply_alert):
                    emit({"event": "dht_reply", "peers": a.num_peers})
                elif isinstance(a, lt.torrent_error_alert):
                    emit({"event": "error", "msg": a.message()})
            st = h.status()
            checking = st.state in (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data)
            if not state["ready"] and state["port"] and (args.no_announce or ses.is_dht_running()) and not checking:
                state["ready"] = True
                emit({
                    "event": "ready",
                    "addr": endpoint(args.listen, state["port"]),
                    "info_hash": str(ti.info_hashes().v1),
                    "seeding": bool(st.is_seeding),
                })
            if state["ready"] and not state["connected"]:
                state["connected"] = True
                for hp in filter(None, args.connect.split(",")):
                    host, _, port = hp.rpartition(":")
                    h.connect_peer((host.strip("[]"), int(port)))

    def command(cmd):
        if cmd == "quit":
            return False
        if cmd == "reannounce":
            h.force_reannounce()
            h.force_dht_announce()
        elif cmd == "status":
            st = h.status()
            emit({
                "event": "status",
                "pieces": st.num_pieces,
                "seeding": bool(st.is_seeding),
                "peers": [endpoint(*p.ip) for p in h.get_peer_info()],
            })
        elif cmd:
            emit({"event": "error", "msg": "bad command: %r" % cmd})
        return True

    serve(args, pump, command, lambda: None)


def create(args):
    content = os.path.join(args.dir, "content")
    os.makedirs(content, exist_ok=True)
    if args.files <= 1:
        name = "peerfind-e2e.bin"
        with open(os.path.join(content, name), "wb") as f:
            f.write(os.urandom(args.size))
    else:
        # A directory of files of uneven sizes, so that a v2 or hybrid
        # torrent gets pad files (BEP 47) between them.
        name = "peerfind-e2e"
        os.makedirs(os.path.join(content, name, "sub"), exist_ok=True)
        for i in range(args.files):
            rel = ("sub/f%d.bin" if i % 2 else "f%d.bin") % i
            with open(os.path.join(content, name, rel), "wb") as f:
                f.write(os.urandom(args.size // args.files + 1000 * i + 7))
    fs = lt.file_storage()
    lt.add_files(fs, os.path.join(content, name))
    # v1 only by default: the swarm the trackers and the DHT know is the
    # SHA-1 hash. --hybrid makes libtorrent 2.0's default, v1 + v2.
    flags = 0 if args.hybrid else lt.create_torrent.v1_only
    ct = lt.create_torrent(fs, 16384, flags=flags)
    ct.add_tracker(args.tracker, 0)
    ct.set_creator("libtorrent %s (peerfind e2e)" % lt.__version__)
    lt.set_piece_hashes(ct, content)
    data = lt.bencode(ct.generate())
    path = os.path.join(args.dir, "peerfind-e2e.torrent")
    with open(path, "wb") as f:
        f.write(data)
    print(json.dumps(describe(lt.torrent_info(path), path)))


def describe(ti, path):
    """The facts libtorrent reads from a torrent, for the test to compare."""
    ih = ti.info_hashes()
    fs = ti.files()
    files = []
    for i in range(fs.num_files()):
        files.append({
            "path": fs.file_path(i),
            "size": fs.file_size(i),
            "pad": bool(fs.file_flags(i) & lt.file_storage.flag_pad_file),
        })
    return {
        "torrent": path,
        "info_hash": str(ih.v1) if ih.has_v1() else "",
        "info_hash_v2": str(ih.v2) if ih.has_v2() else "",
        "magnet": lt.make_magnet_uri(ti),
        "name": ti.name(),
        "total_size": ti.total_size(),
        "piece_length": ti.piece_length(),
        "num_pieces": ti.num_pieces(),
        "trackers": [t.url for t in ti.trackers()],
        "files": files,
    }


def parse_magnet(args):
    """Prints what libtorrent reads from a magnet link."""
    atp = lt.parse_magnet_uri(args.uri)
    ih = atp.info_hashes
    print(json.dumps({
        "info_hash": str(ih.v1) if ih.has_v1() else "",
        "info_hash_v2": str(ih.v2) if ih.has_v2() else "",
        "name": atp.name,
        "trackers": list(atp.trackers),
    }))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def session_flags(s, what):
        s.add_argument("--listen", required=True, help="loopback IP to bind, e.g. %s" % what)
        s.add_argument("--bootstrap", default="", help="dht_bootstrap_nodes: host:port,host:port")
        s.add_argument("--nodes", default="", help="host:port,... added with add_dht_node at start")
        s.add_argument("--max-seconds", type=float, default=120)

    n = sub.add_parser("node")
    session_flags(n, "127.1.2.3")
    n.add_argument("--announce-interval", type=int, default=5, help="dht_announce_interval, seconds")
    n.add_argument("--log", action="store_true", help="forward DHT log lines as events")
    s = sub.add_parser("seed")
    session_flags(s, "127.4.0.1")
    s.add_argument("--dir", required=True)
    s.add_argument("--torrent", required=True)
    s.add_argument("--connect", default="", help="host:port,... to connect_peer once ready")
    s.add_argument("--no-announce", action="store_true", help="no trackers, no DHT")
    s.add_argument("--download-limit", type=int, default=0, help="bytes/s; 0: none")
    c = sub.add_parser("create")
    c.add_argument("--dir", required=True)
    c.add_argument("--tracker", required=True)
    c.add_argument("--size", type=int, default=256 << 10)
    c.add_argument("--files", type=int, default=1, help="more than 1: a directory of that many files")
    c.add_argument("--hybrid", action="store_true", help="a v1+v2 hybrid torrent")
    m = sub.add_parser("magnet")
    m.add_argument("uri")
    args = p.parse_args()
    {"node": node, "seed": seed, "create": create, "magnet": parse_magnet}[args.cmd](args)


if __name__ == "__main__":
    main()
