"""Helper of metainfo/libtorrent_test.go: lets python3-libtorrent (2.0) create
torrents and parse magnet links, and prints what libtorrent sees, as JSON lines.

  lt_helper.py create CONTENT_PARENT NAME OUT_DIR   one line per created torrent
  lt_helper.py magnets < links                      one line per magnet link
  lt_helper.py load < paths                         one line per .torrent: loads or not, hashes
"""
import json
import os
import sys

import libtorrent as lt


def hexes(ih):
    v1 = str(ih.v1) if ih.has_v1() else ""
    v2 = str(ih.v2) if ih.has_v2() else ""
    return v1, v2


def create(parent, name, out):
    fs = lt.file_storage()
    lt.add_files(fs, os.path.join(parent, name))
    variants = [("v1", lt.create_torrent.v1_only), ("v2", lt.create_torrent.v2_only), ("hybrid", 0)]
    for label, flags in variants:
        for piece in (16384, 65536):
            t = lt.create_torrent(fs, piece, flags=flags)
            t.add_tracker("http://127.0.0.1:1/announce", 0)
            t.add_tracker("udp://127.0.0.1:2", 0)
            t.add_tracker("udp://[::1]:3", 1)
            t.add_url_seed("http://127.0.0.1:4/seed/")
            t.add_node("127.0.0.1", 6881)
            t.set_priv(piece == 65536)
            t.set_comment("made by libtorrent for peerfind")
            t.set_creator("libtorrent " + lt.__version__)
            lt.set_piece_hashes(t, parent)
            data = lt.bencode(t.generate())
            path = os.path.join(out, "%s-%s-%d.torrent" % (name, label, piece))
            with open(path, "wb") as f:
                f.write(data)
            ti = lt.torrent_info(lt.bdecode(data))
            v1, v2 = hexes(ti.info_hashes())
            st = ti.files()
            files = [
                {"path": st.file_path(i), "length": st.file_size(i),
                 "pad": bool(st.file_flags(i) & lt.file_storage.flag_pad_file)}
                for i in range(st.num_files())
            ]
            print(json.dumps({
                "file": path, "v1": v1, "v2": v2, "name": ti.name(),
                "files": files, "num_pieces": ti.num_pieces(), "piece_length": ti.piece_length(),
                "private": ti.priv(), "comment": ti.comment(), "creator": ti.creator(),
                "trackers": [[a.url, a.tier] for a in ti.trackers()],
                "nodes": ["%s:%d" % n for n in ti.nodes()],
                "web_seeds": [w["url"] for w in ti.web_seeds()],
                "magnet": lt.make_magnet_uri(ti),
            }))


def magnets():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        p = lt.parse_magnet_uri(line)
        v1, v2 = hexes(p.info_hashes)
        print(json.dumps({
            "v1": v1, "v2": v2, "name": p.name, "trackers": list(p.trackers),
            "peers": ["%s:%d" % (h if ":" not in h else "[" + h + "]", port) for h, port in p.peers],
            "web_seeds": list(p.url_seeds),
        }))


def load():
    for line in sys.stdin:
        path = line.rstrip("\n")
        if not path:
            continue
        try:
            with open(path, "rb") as f:
                ti = lt.torrent_info(f.read())
            v1, v2 = hexes(ti.info_hashes())
            print(json.dumps({"file": path, "ok": True, "v1": v1, "v2": v2}))
        except Exception as e:  # libtorrent raises RuntimeError with its message
            print(json.dumps({"file": path, "ok": False, "error": str(e)}))


if __name__ == "__main__":
    if sys.argv[1] == "create":
        create(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "load":
        load()
    else:
        magnets()
