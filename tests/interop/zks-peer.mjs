// Minimal independent RLPx peer speaking a custom `zks` capability, built on @ethereumjs/devp2p.
// Usage: node zks-peer.mjs listen <port> [hexkey] | node zks-peer.mjs dial <enode> [hexkey]
// Prints JSON lines: {"event":"hello",...}, {"event":"zks","id":N,"payload_hex":"..."}, {"event":"disconnect",...}
import { RLPx } from '@ethereumjs/devp2p'
import { Common, Mainnet } from '@ethereumjs/common'
import { bytesToHex, hexToBytes, intToBytes, randomBytes } from '@ethereumjs/util'
import { secp256k1 } from 'ethereum-cryptography/secp256k1.js'
import * as snappy from 'snappyjs'
import { RLP } from '@ethereumjs/rlp'

const out = (o) => console.log(JSON.stringify(o))

// The library instantiates `new Constructor(version, peer, send)` and calls `_handleMessage(code, bytes)`
// with the message id relative to the capability offset and the (snappy-decompressed) body.
class Zks {
  constructor(version, peer, send) {
    this._version = version; this._peer = peer; this._send = send
    setTimeout(() => this.sendZks(0x00, hexToBytes('0xc32ac040')), 50) // GetBlockReplays [42, [], 64]
  }
  compressed() { const v = this._peer['_hello']?.protocolVersion; return v !== undefined && v >= 5 }
  sendZks(id, body) { this._send(id, this.compressed() ? snappy.compress(body) : body) }
  _handleMessage(code, data) {
    out({ event: 'zks', id: code, payload_hex: bytesToHex(data).slice(2) })
    if (code === 0x00) this.sendZks(0x01, hexToBytes('0xc9c8c40582aabbc20680')) // BlockReplays two raw records
    // Test hook (added in this repository's copy): leave with a chosen reason on BlockReplays.
    const reason = process.env.ZKS_PEER_DISCONNECT_ON_REPLAYS
    if (code === 0x01 && reason !== undefined) this._peer.disconnect(Number(reason))
  }
}

// Scripted passive `eth/68` (this repository's addition), enabled by ZKS_PEER_ETH=1: it answers
// the other side's Status with the same Status (so the chains match), altered first as
// ZKS_PEER_ETH_TAMPER says (network | genesis | fork | version) to provoke a mismatch, and
// prints every eth message it receives.
class Eth {
  constructor(version, peer, send) { this._version = version; this._peer = peer; this._send = send }
  compressed() { const v = this._peer['_hello']?.protocolVersion; return v !== undefined && v >= 5 }
  _handleMessage(code, data) {
    out({ event: 'eth', id: code, payload_hex: bytesToHex(data).slice(2) })
    if (code !== 0x00 || this._answered) return
    this._answered = true
    const fields = RLP.decode(data) // [version, networkid, td, blockhash, genesis, [forkhash, next]]
    switch (process.env.ZKS_PEER_ETH_TAMPER) {
      case 'network': fields[1] = intToBytes(999999); break
      case 'genesis': fields[4] = new Uint8Array(32).fill(7); break
      case 'fork': fields[5][0] = hexToBytes('0xdeadbeef'); break
      case 'version': fields[0] = intToBytes(67); break
    }
    const status = RLP.encode(fields)
    this._send(0x00, this.compressed() ? snappy.compress(status) : status)
  }
}

const [mode, arg, keyHex] = process.argv.slice(2)
const key = keyHex ? hexToBytes('0x' + keyHex) : randomBytes(32)
const id = secp256k1.getPublicKey(key, false).slice(1)
const common = new Common({ chain: Mainnet })
const rlpx = new RLPx(key, {
  dpt: null, maxPeers: 25, common, listenPort: mode === 'listen' ? Number(arg) : null,
  capabilities: [
    ...(process.env.ZKS_PEER_ETH ? [{ name: 'eth', version: 68, length: 17, constructor: Eth }] : []),
    { name: 'zks', version: 3, length: 7, constructor: Zks },
  ],
})
rlpx.events.on('peer:added', (peer) => {
  const h = peer['_hello']
  out({ event: 'hello', client: String(h.clientId), protocolVersion: h.protocolVersion,
        caps: h.capabilities.map((c) => `${c.name}/${c.version}`) })
})
rlpx.events.on('peer:removed', (peer, reason, disconnectWe) => out({ event: 'disconnect', reason, by_us: disconnectWe }))
rlpx.events.on('error', (e) => out({ event: 'error', message: String(e) }))
rlpx.events.on('peer:error', (p, e) => out({ event: 'peer_error', message: String(e?.stack ?? e) }))
if (mode === 'listen') {
  // Announce only once the socket is bound (this repository's copy; the original printed at
  // once, which races a dialer).
  rlpx.events.once('listening', () =>
    out({ event: 'listening', enode: `enode://${bytesToHex(id).slice(2)}@127.0.0.1:${arg}` }))
  rlpx.listen(Number(arg), '127.0.0.1')
} else {
  const m = /^enode:\/\/([0-9a-f]{128})@([^:]+):(\d+)/.exec(arg)
  await rlpx.connect({ id: hexToBytes('0x' + m[1]), address: m[2], tcpPort: Number(m[3]) })
}
setTimeout(() => process.exit(0), Number(process.env.ZKS_PEER_SECONDS ?? 3) * 1000)
