// A bittorrent-tracker (npm) server on loopback, for peerfind's real-tracker
// interop tests (tracker/realtracker_test.go).
//
// The package's bundled CLI (and its root entry point) import its WebRTC
// client, whose native build cannot happen offline (we install with
// --ignore-scripts), so the server is started from these few lines instead.
//
// Usage: node tracker-server.mjs [interval-ms]
//
// It binds HTTP and UDP on 127.0.0.1, and HTTP and UDP on ::1, each on a port
// the kernel picks, and prints one JSON line on stdout:
//   {"http":PORT,"http6":PORT,"udp4":PORT,"udp6":PORT,"version":"11.x.y"}
// All four sockets serve the same swarms.
// Warnings (bad requests) go to stderr as they happen. The process exits when
// its stdin closes, so it never outlives the test that started it.
import { readFileSync } from 'node:fs'
import http from 'node:http'
// The package root also loads the WebRTC client; the server entry point does not.
import Server from 'bittorrent-tracker/server'

const interval = Number(process.argv[2]) || 60_000

const pkg = JSON.parse(readFileSync(
  new URL('./node_modules/bittorrent-tracker/package.json', import.meta.url), 'utf8'))

const server = new Server({ http: true, udp: true, ws: false, stats: false, interval })

server.on('error', err => {
  process.stderr.write(`tracker-server: error: ${err.message}\n`)
  process.exit(1)
})
server.on('warning', err => {
  process.stderr.write(`tracker-server: warning: ${err.message}\n`)
})

// The Server listens for HTTP on one address only. A second HTTP socket on ::1
// hands its requests to the same Server, so IPv4 and IPv6 announces meet in
// one swarm (and IPv6 peers come back in BEP 7 "peers6") without binding the
// wildcard address.
const http6 = http.createServer((req, res) => server.onHttpRequest(req, res))
http6.on('error', err => {
  process.stderr.write(`tracker-server: error: ${err.message}\n`)
  process.exit(1)
})
const http6Listening = new Promise(resolve => http6.listen(0, '::1', resolve))

server.on('listening', async () => {
  await http6Listening
  process.stdout.write(JSON.stringify({
    http: server.http.address().port,
    http6: http6.address().port,
    udp4: server.udp4.address().port,
    udp6: server.udp6.address().port,
    version: pkg.version
  }) + '\n')
})

// Ports 0: the kernel picks a free port for each socket.
server.listen({ http: 0, udp: 0 }, { http: '127.0.0.1', udp: '127.0.0.1', udp6: '::1' })

function shutdown () {
  server.close()
  http6.close()
  process.exit(0)
}
process.stdin.on('end', shutdown)
process.stdin.on('close', shutdown)
process.stdin.resume()
process.on('SIGTERM', shutdown)
