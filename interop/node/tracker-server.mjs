// A bittorrent-tracker (npm) server on loopback, for peerfind's real-tracker
// interop tests (tracker/realtracker_test.go).
//
// The package's bundled CLI (and its root entry point) import its WebRTC
// client, whose native build cannot happen offline (we install with
// --ignore-scripts), so the server is started from these few lines instead.
//
// Usage: node tracker-server.mjs [interval-ms]
//
// It binds HTTP and UDP on 127.0.0.1, and HTTP and UDP on ::1 when the host
// has IPv6 loopback, each on a port the kernel picks, and prints one JSON
// line on stdout (ports 0 for the IPv6 side when there is none):
//   {"http":PORT,"http6":PORT,"udp4":PORT,"udp6":PORT,"version":"11.x.y"}
// All sockets serve the same swarms. Warnings (bad requests) go to stderr as
// they happen. The process exits when its stdin closes, so it never outlives
// the test that started it.
import dgram from 'node:dgram'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import http from 'node:http'
// The package root also loads the WebRTC client; the server entry point does not.
import Server from 'bittorrent-tracker/server'

const interval = Number(process.argv[2]) || 60_000

const pkg = JSON.parse(readFileSync(
  new URL('./node_modules/bittorrent-tracker/package.json', import.meta.url), 'utf8'))

function fail (err) {
  process.stderr.write(`tracker-server: error: ${err.message}\n`)
  process.exit(1)
}

// Containers without IPv6 have no ::1; the tests then skip their IPv6 part.
async function haveIPv6 () {
  const s = dgram.createSocket('udp6')
  try {
    s.bind(0, '::1')
    await once(s, 'listening')
    return true
  } catch {
    return false
  } finally {
    s.close()
  }
}
const ipv6 = await haveIPv6()

const server = new Server({ http: true, udp: true, ws: false, stats: false, interval })
server.on('error', fail)
server.on('warning', err => {
  process.stderr.write(`tracker-server: warning: ${err.message}\n`)
})
if (!ipv6) {
  // The Server makes a udp6 socket unconditionally; never bind it.
  server.udp6.close()
  server.udp6 = null
}

// The Server listens for HTTP on one address only. A second HTTP socket on ::1
// hands its requests to the same Server, so IPv4 and IPv6 announces meet in
// one swarm (and IPv6 peers come back in BEP 7 "peers6") without binding the
// wildcard address.
let http6 = null
const bound = [once(server.http, 'listening'), once(server.udp4, 'listening')]
if (ipv6) {
  http6 = http.createServer((req, res) => server.onHttpRequest(req, res))
  http6.on('error', fail)
  http6.listen(0, '::1')
  bound.push(once(http6, 'listening'), once(server.udp6, 'listening'))
}

// Ports 0: the kernel picks a free port for each socket.
server.listen({ http: 0, udp: 0 }, { http: '127.0.0.1', udp: '127.0.0.1', udp6: '::1' })
await Promise.all(bound)

process.stdout.write(JSON.stringify({
  http: server.http.address().port,
  http6: http6 ? http6.address().port : 0,
  udp4: server.udp4.address().port,
  udp6: server.udp6 ? server.udp6.address().port : 0,
  version: pkg.version
}) + '\n')

function shutdown () {
  server.close()
  if (http6) http6.close()
  process.exit(0)
}
process.stdin.on('end', shutdown)
process.stdin.on('close', shutdown)
process.stdin.resume()
process.on('SIGTERM', shutdown)
