// Minimal independent RLPx peer speaking a custom `zks` capability, built on @ethereumjs/devp2p.
// Usage: node zks-peer.mjs listen <port> [hexkey] | node zks-peer.mjs dial <enode> [hexkey]
//        node zks-peer.mjs sign-auth <secret>:<nonce> [...]   (self-check, no network: prints
//        {"event":"auth","nonce","prehash","signature","payload_hex"} per pair and exits)
// Prints JSON lines: {"event":"hello",...}, {"event":"zks","id":N,"payload_hex":"..."}, {"event":"disconnect",...}
//
// Scripting (this repository's additions; every variable is optional):
//   ZKS_PEER_ZKS=<n>          the zks version to advertise (default 3; zks/1, 2, 5 have 2 ids, zks/3, 4 have 7)
//   ZKS_PEER_2FA=<n>          also advertise zks_2fa/<n> (only 1 is known: 5 ids)
//   ZKS_PEER_ZKS_OPEN, ZKS_PEER_2FA_OPEN
//                             messages a subprotocol sends once it is up, as `id:hex,id:hex` (relative
//                             ids, uncompressed bodies; empty = none). zks default `0:c32ac040`
//                             (GetBlockReplays [42, [], 64]), zks_2fa default none.
//   ZKS_PEER_ZKS_REPLY, ZKS_PEER_2FA_REPLY
//                             answers, as `on>id:hex,...`: each message received with relative id `on`
//                             is answered with message `id`, body `hex`. zks default
//                             `0>1:c9c8c40582aabbc20680` (BlockReplays with two raw records), zks_2fa
//                             default none. So a verifier EN is `ZKS_PEER_2FA_OPEN=0:c0` and an MN
//                             `ZKS_PEER_2FA_REPLY=0>1:e1a0<nonce>`.
//   ZKS_PEER_2FA_SIGN=<hex>   a verifier EN with this 32-byte secp256k1 secret: every
//                             VerifierChallenge (zks_2fa id 1) is answered with a real VerifierAuth
//                             (id 2): prehash = keccak256(ascii `zksync-os:verifier-auth:v1` ||
//                             nonce), signed as a raw prehash (no EIP-191 prefix, RFC 6979, low s),
//                             body `[r || s || v]` with v = 27 + recovery id; prints
//                             {"event":"zks_2fa_auth","nonce","signature"} when it answers.
// Every zks and zks_2fa message received is printed with its relative `id`, its `wire_id` (what
// ethereumjs computed: its own offset for the capability + id) and `payload_hex`; once the Hellos
// are exchanged, `{"event":"protocols","layout":[{"cap":"eth/68","offset":16,"length":17},...]}`
// shows the offsets ethereumjs gave every shared capability.
import { RLPx } from '@ethereumjs/devp2p'
import { Common, Mainnet } from '@ethereumjs/common'
import { bytesToHex, concatBytes, hexToBytes, intToBytes, randomBytes, utf8ToBytes } from '@ethereumjs/util'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { secp256k1 } from 'ethereum-cryptography/secp256k1.js'
import * as snappy from 'snappyjs'
import { RLP } from '@ethereumjs/rlp'

const out = (o) => console.log(JSON.stringify(o))

// `id:hex,id:hex` → [[id, bytes], ...]
const parseMessages = (spec) =>
  (spec ?? '').split(',').filter((s) => s.length > 0).map((s) => {
    const [id, hex] = s.split(':')
    return [Number(id), hexToBytes('0x' + (hex ?? ''))]
  })
// `on>id:hex,...` → Map(on → [[id, bytes], ...])
const parseReplies = (spec) => {
  const replies = new Map()
  for (const rule of (spec ?? '').split(',').filter((s) => s.length > 0)) {
    const [on, message] = rule.split('>')
    const list = replies.get(Number(on)) ?? []
    list.push(...parseMessages(message))
    replies.set(Number(on), list)
  }
  return replies
}

// The verifier-auth signature of zks_2fa/1 (and zks/3-4): keccak256(domain || nonce) signed as a
// raw 32-byte prehash, r || s || v with v = 27 + recovery id.
const AUTH_DOMAIN = utf8ToBytes('zksync-os:verifier-auth:v1')
const authPrehash = (nonce) => keccak256(concatBytes(AUTH_DOMAIN, nonce))
const signAuth = (secret, nonce) => {
  const sig = secp256k1.sign(authPrehash(nonce), secret, { lowS: true, prehash: false })
  return concatBytes(sig.toCompactRawBytes(), Uint8Array.of(27 + sig.recovery))
}
const hexArg = (text, bytes, what) => {
  if (!new RegExp(`^[0-9a-fA-F]{${2 * bytes}}$`).test(text ?? '')) throw new Error(`${what}: want ${bytes} bytes of hex, got ${text}`)
  return hexToBytes('0x' + text)
}

// The library instantiates `new Constructor(version, peer, send)` and calls `_handleMessage(code, bytes)`
// with the message id relative to the capability offset and the (snappy-decompressed) body.
class Scripted {
  constructor(version, peer, send, name, open, replies) {
    this._version = version; this._peer = peer; this._send = send
    this._name = name; this._replies = replies
    const messages = open
    if (messages.length > 0) setTimeout(() => { for (const [id, body] of messages) this.sendMessage(id, body) }, 50)
  }
  compressed() { const v = this._peer['_hello']?.protocolVersion; return v !== undefined && v >= 5 }
  sendMessage(id, body) { this._send(id, this.compressed() ? snappy.compress(body) : body) }
  offset() { return this._peer['_protocols'].find((p) => p.protocol === this)?.offset }
  _handleMessage(code, data) {
    out({ event: this._name, id: code, wire_id: this.offset() + code, payload_hex: bytesToHex(data).slice(2) })
    for (const [id, body] of this._replies.get(code) ?? []) this.sendMessage(id, body)
  }
}

class Zks extends Scripted {
  static capName = 'zks'
  constructor(version, peer, send) {
    super(version, peer, send, 'zks',
      parseMessages(process.env.ZKS_PEER_ZKS_OPEN ?? '0:c32ac040'),
      parseReplies(process.env.ZKS_PEER_ZKS_REPLY ?? '0>1:c9c8c40582aabbc20680'))
  }
  _handleMessage(code, data) {
    super._handleMessage(code, data)
    // Test hook (added in this repository's copy): leave with a chosen reason on BlockReplays.
    const reason = process.env.ZKS_PEER_DISCONNECT_ON_REPLAYS
    if (code === 0x01 && reason !== undefined) this._peer.disconnect(Number(reason))
  }
}

// zks_2fa (this repository's addition), enabled by ZKS_PEER_2FA: scripted by ZKS_PEER_2FA_OPEN
// and ZKS_PEER_2FA_REPLY, prints what it receives.
class Zks2fa extends Scripted {
  static capName = 'zks_2fa'
  constructor(version, peer, send) {
    super(version, peer, send, 'zks_2fa',
      parseMessages(process.env.ZKS_PEER_2FA_OPEN),
      parseReplies(process.env.ZKS_PEER_2FA_REPLY))
    const secret = process.env.ZKS_PEER_2FA_SIGN
    this._secret = secret ? hexArg(secret, 32, 'ZKS_PEER_2FA_SIGN') : undefined
  }
  _handleMessage(code, data) {
    super._handleMessage(code, data)
    if (code !== 0x01 || this._secret === undefined) return
    // VerifierChallenge: `[nonce]`, 32 bytes.
    const fields = RLP.decode(data)
    if (!Array.isArray(fields) || fields.length !== 1 || !(fields[0] instanceof Uint8Array) || fields[0].length !== 32) {
      out({ event: 'error', message: `not a VerifierChallenge: ${bytesToHex(data)}` })
      return
    }
    const signature = signAuth(this._secret, fields[0])
    out({ event: 'zks_2fa_auth', nonce: bytesToHex(fields[0]).slice(2), signature: bytesToHex(signature).slice(2) })
    this.sendMessage(0x02, RLP.encode([signature]))
  }
}

// Scripted passive `eth/68` (this repository's addition), enabled by ZKS_PEER_ETH=1: it answers
// the other side's Status with the same Status (so the chains match), altered first as
// ZKS_PEER_ETH_TAMPER says (network | genesis | fork | version) to provoke a mismatch, and
// prints every eth message it receives.
class Eth {
  static capName = 'eth'
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

const ZKS_LENGTH = { 1: 2, 2: 2, 3: 7, 4: 7, 5: 2 }
const TWOFA_LENGTH = { 1: 5 }
const zksVersion = Number(process.env.ZKS_PEER_ZKS ?? 3)
const twofaVersion = process.env.ZKS_PEER_2FA ? Number(process.env.ZKS_PEER_2FA) : undefined

const [mode, arg, keyHex] = process.argv.slice(2)
if (mode === 'sign-auth') {
  for (const pair of process.argv.slice(3)) {
    const [secret, nonceHex] = pair.split(':')
    const nonce = hexArg(nonceHex, 32, 'nonce')
    const signature = signAuth(hexArg(secret, 32, 'secret'), nonce)
    out({ event: 'auth', nonce: nonceHex, prehash: bytesToHex(authPrehash(nonce)).slice(2),
          signature: bytesToHex(signature).slice(2), payload_hex: bytesToHex(RLP.encode([signature])).slice(2) })
  }
  process.exit(0)
}
const key = keyHex ? hexToBytes('0x' + keyHex) : randomBytes(32)
const id = secp256k1.getPublicKey(key, false).slice(1)
const common = new Common({ chain: Mainnet })
const rlpx = new RLPx(key, {
  dpt: null, maxPeers: 25, common, listenPort: mode === 'listen' ? Number(arg) : null,
  capabilities: [
    ...(process.env.ZKS_PEER_ETH ? [{ name: 'eth', version: 68, length: 17, constructor: Eth }] : []),
    { name: 'zks', version: zksVersion, length: ZKS_LENGTH[zksVersion], constructor: Zks },
    ...(twofaVersion !== undefined
      ? [{ name: 'zks_2fa', version: twofaVersion, length: TWOFA_LENGTH[twofaVersion], constructor: Zks2fa }]
      : []),
  ],
})
rlpx.events.on('peer:added', (peer) => {
  const h = peer['_hello']
  out({ event: 'hello', client: String(h.clientId), protocolVersion: h.protocolVersion,
        caps: h.capabilities.map((c) => `${c.name}/${c.version}`) })
  out({ event: 'protocols', layout: peer['_protocols'].map((p) => ({
    cap: `${p.protocol.constructor.capName}/${p.protocol._version}`, offset: p.offset, length: p.length })) })
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
