#!/usr/bin/python3
"""libtorrent's DHT get_peers as a one-shot finder, for dhtbench.

  ltfind.py --listen IP --bootstrap HOST:PORT --info-hash HEX [--max-seconds S]

Starts a libtorrent session with nothing but the DHT on IP (no LSD, UPnP,
NAT-PMP, no default routers; HOST:PORT is the only bootstrap node), calls
dht_get_peers once the DHT runs, prints every new peer as "ip:port" on its
own line as soon as libtorrent reports it, and exits when the lookup has
ended, or after --max-seconds.

libtorrent 2.0 posts a dht_get_peers_reply_alert for each reply that carries
values (the data callback of its get_peers traversal), so peers stream as
they arrive; but it posts nothing when the traversal ends. The end is seen
by polling post_dht_stats every 20 ms: the lookup is over once no active
request of type "get_peers" remains. That adds up to 20 ms to the exit time.
"""

import argparse
import os
import sys
import time

import libtorrent as lt


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--info-hash", required=True)
    p.add_argument("--max-seconds", type=float, default=60)
    args = p.parse_args()
    deadline = time.monotonic() + args.max_seconds
    ses = lt.session({
        "enable_dht": True,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_bootstrap_nodes": args.bootstrap,
        "listen_interfaces": "%s:0" % args.listen,
        # The emulated nodes each have their own /24, but the finder and
        # the peers' addresses are not what these restrictions are about;
        # they are lifted as in interop/internal/thirdparty/lt.py.
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_prefer_verified_node_ids": False,
        # The default 8000 B/s DHT upload limit would pace a lookup on a
        # network whose round trips are Internet-like but whose replies
        # come from thousands of nodes at once; real clients raise it too.
        "dht_upload_rate_limit": 1 << 20,
        "dht_block_ratelimit": 1000,
        # dht_get_peers_reply_alert is a dht_operation alert; the stats
        # alert a dht one.
        "alert_mask": lt.alert.category_t.dht_notification
        | lt.alert.category_t.dht_operation_notification
        | lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification,
    })
    while not ses.is_dht_running():
        if time.monotonic() > deadline:
            os._exit(2)
        time.sleep(0.002)
    ses.dht_get_peers(lt.sha1_hash(bytes.fromhex(args.info_hash)))
    seen = set()
    started = False
    next_stats = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_stats:
            ses.post_dht_stats()
            next_stats = now + 0.02
        ses.wait_for_alert(10)
        done = False
        for a in ses.pop_alerts():
            if isinstance(a, lt.dht_get_peers_reply_alert):
                out = []
                for ip, port in a.peers():
                    key = "%s:%d" % (ip, port)
                    if key not in seen:
                        seen.add(key)
                        out.append(key)
                if out:
                    sys.stdout.write("\n".join(out) + "\n")
                    sys.stdout.flush()
            elif isinstance(a, lt.dht_stats_alert):
                active = any(r.get("type") == "get_peers" for r in a.active_requests)
                if active:
                    started = True
                elif started:
                    done = True
        if done:
            break
    sys.stdout.flush()
    # No orderly shutdown: the lookup is what is measured.
    os._exit(0)


if __name__ == "__main__":
    main()
