#!/usr/bin/python3
"""A libtorrent client for peerfind's end-to-end tests, driven over stdio.

Run with Debian's /usr/bin/python3 (python3-libtorrent, libtorrent 2.0).

  lt_client.py create --dir D --tracker URL
      writes D/content/<name> (random bytes), makes a .torrent of it with
      libtorrent's create_torrent, announce URL = --tracker, and prints one
      JSON object describing it as libtorrent reads it: torrent (path),
      info_hash, info_hash_v2, magnet, name, total_size, piece_length,
      num_pieces, trackers, files. --files N makes a directory of N files,
      --hybrid a v1+v2 torrent (libtorrent 2.0's default; v1 otherwise).

  lt_client.py magnet URI
      prints what libtorrent's parse_magnet_uri reads from URI: info_hash,
      info_hash_v2, name, trackers.

  lt_client.py seed --dir D --torrent T --listen IP --bootstrap host:port,...
                    [--nodes host:port,...]
      seeds T from D/content: a session that announces itself to the
      torrent's tracker and to the DHT (bootstrapped off --bootstrap, which
      libtorrent treats as routers, and --nodes, added with add_dht_node), with
      nothing else enabled (no LSD, UPnP, NAT-PMP, default DHT routers).
      Events leave as JSON lines on stdout: ready (listen address), tracker
      (announce replies), tracker_error, dht_reply (a DHT get_peers +
      announce_peer round ended), error. Commands on stdin: "reannounce"
      (force tracker and DHT announces), "quit". The process exits when
      stdin closes, on "quit", or after --max-seconds, so it never outlives
      the test that started it.
"""

import argparse
import json
import os
import sys
import threading

import libtorrent as lt

_out_lock = threading.Lock()


def emit(obj):
    with _out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


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


def endpoint(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def seed(args):
    sp = {
        "enable_dht": True,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # The default would contact dht.libtorrent.org: the tests are offline.
        "dht_bootstrap_nodes": args.bootstrap,
        "listen_interfaces": "%s:0" % args.listen,
        # Tracker connections leave from the listen IP, so the tracker sees
        # the same address the DHT nodes do.
        "outgoing_interfaces": args.listen,
        # All of 127.x is one /24 to libtorrent, and BEP 42 ids cannot be
        # verified for 127.x (INTEROP.md).
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_prefer_verified_node_ids": False,
        "allow_multiple_connections_per_ip": True,
        "announce_to_all_tiers": True,
        "announce_to_all_trackers": True,
        "dht_upload_rate_limit": 1 << 20,
        "dht_block_ratelimit": 1000,
        "dht_announce_interval": 5,
        "alert_mask": lt.alert.category_t.status_notification
        | lt.alert.category_t.error_notification
        | lt.alert.category_t.tracker_notification
        | lt.alert.category_t.dht_notification,
    }
    ses = lt.session(sp)
    ti = lt.torrent_info(args.torrent)
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = os.path.join(args.dir, "content")
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    h = ses.add_torrent(atp)
    for hp in filter(None, args.nodes.split(",")):
        host, _, port = hp.rpartition(":")
        ses.add_dht_node((host.strip("[]"), int(port)))

    stop = threading.Event()
    state = {"port": 0, "ready": False}

    def pump():
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
            if not state["ready"] and state["port"] and ses.is_dht_running():
                state["ready"] = True
                st = h.status()
                emit({
                    "event": "ready",
                    "addr": endpoint(args.listen, state["port"]),
                    "info_hash": str(ti.info_hashes().v1),
                    "seeding": bool(st.is_seeding),
                })

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    timer = threading.Timer(args.max_seconds, stop.set)
    timer.daemon = True
    timer.start()
    done = threading.Event()

    def read_stdin():
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "quit":
                break
            if cmd == "reannounce":
                h.force_reannounce()
                h.force_dht_announce()
            elif cmd:
                emit({"event": "error", "msg": "bad command: %r" % cmd})
        done.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    while not done.is_set() and not stop.is_set():
        done.wait(0.2)
    stop.set()
    t.join(2)
    sys.stdout.flush()
    # Skip libtorrent's orderly shutdown (a `stopped` announce, state
    # saving): the test only needs the process gone.
    os._exit(0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create")
    c.add_argument("--dir", required=True)
    c.add_argument("--tracker", required=True)
    c.add_argument("--size", type=int, default=256 << 10)
    c.add_argument("--files", type=int, default=1, help="more than 1: a directory of that many files")
    c.add_argument("--hybrid", action="store_true", help="a v1+v2 hybrid torrent")
    m = sub.add_parser("magnet")
    m.add_argument("uri")
    s = sub.add_parser("seed")
    s.add_argument("--dir", required=True)
    s.add_argument("--torrent", required=True)
    s.add_argument("--listen", required=True, help="loopback IP to bind, e.g. 127.4.0.1")
    s.add_argument("--bootstrap", default="", help="dht_bootstrap_nodes: host:port,host:port")
    s.add_argument("--nodes", default="", help="host:port,... added with add_dht_node at start")
    s.add_argument("--max-seconds", type=float, default=120)
    args = p.parse_args()
    if args.cmd == "create":
        create(args)
    elif args.cmd == "magnet":
        parse_magnet(args)
    else:
        seed(args)


if __name__ == "__main__":
    main()
