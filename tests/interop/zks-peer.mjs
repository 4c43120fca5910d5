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
//   ZKS_PEER_ETH=<v>          also advertise eth: `1` or `68` → eth/68 (17 ids), `69` → eth/69
//                             (18 ids); anything else is refused at start. It answers the
//                             other side's Status with that same Status (see class Eth).
//   ZKS_PEER_ETH_TAMPER=network|genesis|fork|version
//                             alter the echoed Status first, to provoke a mismatch; eth/68's
//                             layout only (refused at start with ZKS_PEER_ETH=69).
//   ZKS_PEER_DISCONNECT_ON_REPLAYS=<reason>
//                             disconnect with this reason on the first BlockReplays received.
//   ZKS_PEER_SECONDS=<s>      exit after this many seconds (default 3).
//
// An upstream ZKsync OS main node (MN) serving replay records:
//   ZKS_PEER_RECORDS=<file>   the records it holds, one per line: `<block_number> <hex>`, the
//                             hex being the record's RLP item exactly as it goes on the wire
//                             (blank lines are skipped; the lines are served in file order, so
//                             they should be consecutive blocks). The block number is taken
//                             from the line, the record is never decoded. On each GetBlockReplays
//                             (zks id 0) it receives, it decodes `[starting_block, overrides,
//                             max?]` (overrides are ignored), takes max = 1 when absent, 0 or 1,
//                             else clamped to 1..64, and sends the records from the line of
//                             `starting_block` to the end of the file, in order, in BlockReplays
//                             (zks id 1) of `max` records each (the last may hold fewer), as
//                             fast as the socket drains; then it stays quiet, as an upstream MN
//                             waits for new blocks. It prints {"event":"sent","first":N,
//                             "count":K} per BlockReplays sent. A request for a block it does
//                             not hold is answered with nothing and printed as
//                             {"event":"not_held","starting_block":N}; a request that does not
//                             decode is printed as an `error` event. With ZKS_PEER_RECORDS set,
//                             the zks defaults of ZKS_PEER_ZKS_OPEN and ZKS_PEER_ZKS_REPLY
//                             become none (an MN asks nothing); set them to script more.
//   ZKS_PEER_RECORDS_MAX=<n>  (with ZKS_PEER_RECORDS) at most n records per BlockReplays,
//                             whatever the request's max: as an upstream MN whose blocks come
//                             one at a time sends only what it holds, a message per block.
//
// An upstream ZKsync OS external node (EN): every BlockReplays (zks id 1) received prints,
// after its `zks` event, one {"event":"record","index":i,"hex":"..."} per record, `hex` being
// the record's RLP item exactly as it arrived (after snappy), `index` its place in the message.
// An upstream EN asks once, from its next block, with Some(max): e.g. GetBlockReplays
// [1, [], 1] is `ZKS_PEER_ZKS_OPEN=0:c301c001` (`c3` list of 3 bytes, `01` block 1, `c0` no
// overrides, `01` max 1); [0, [], 1] is `0:c380c001`, [1, [], 64] is `0:c301c040`.
//
// Every zks and zks_2fa message received is printed with its relative `id`, its `wire_id` (what
// ethereumjs computed: its own offset for the capability + id) and `payload_hex`; once the Hellos
// are exchanged, `{"event":"protocols","layout":[{"cap":"eth/68","offset":16,"length":17},...]}`
// shows the offsets ethereumjs gave every shared capability.
import { RLPx } from '@ethereumjs/devp2p'
import { Common, Mainnet } from '@ethereumjs/common'
import { bytesToHex, bytesToInt, concatBytes, hexToBytes, intToBytes, randomBytes, utf8ToBytes } from '@ethereumjs/util'
import { readFileSync } from 'node:fs'
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

// RLP, just enough to slice items out of a message without re-encoding them.
// The item at `pos`: whether it is a list, where its payload starts, and where it ends.
const rlpItem = (bytes, pos) => {
  const b = bytes[pos]
  if (b === undefined) throw new Error(`RLP: no item at ${pos}`)
  let list = false, start = pos + 1, length
  if (b < 0x80) { start = pos; length = 1 }
  else if (b <= 0xb7) length = b - 0x80
  else if (b <= 0xbf) { [start, length] = longLength(bytes, pos, b - 0xb7) }
  else if (b <= 0xf7) { list = true; length = b - 0xc0 }
  else { list = true; [start, length] = longLength(bytes, pos, b - 0xf7) }
  const end = start + length
  if (end > bytes.length) throw new Error(`RLP: item at ${pos} runs past the end`)
  return { list, start, end }
}
const longLength = (bytes, pos, lengthBytes) => {
  let length = 0
  for (let i = 1; i <= lengthBytes; i++) length = length * 256 + (bytes[pos + i] ?? NaN)
  if (Number.isNaN(length)) throw new Error(`RLP: length at ${pos} runs past the end`)
  return [pos + 1 + lengthBytes, length]
}
const rlpListHeader = (length) => {
  if (length < 56) return Uint8Array.of(0xc0 + length)
  const be = []
  for (let n = length; n > 0; n = Math.floor(n / 256)) be.unshift(n % 256)
  return Uint8Array.of(0xf7 + be.length, ...be)
}
const rlpList = (items) => {
  const payload = concatBytes(...items)
  return concatBytes(rlpListHeader(payload.length), payload)
}
// The record items of a BlockReplays body `[[record, ...]]`, as slices of it.
const recordItems = (body) => {
  const outer = rlpItem(body, 0)
  if (!outer.list) throw new Error('BlockReplays: not a list')
  const inner = rlpItem(body, outer.start)
  if (!inner.list) throw new Error('BlockReplays: the record list is not a list')
  const items = []
  for (let pos = inner.start; pos < inner.end;) {
    const item = rlpItem(body, pos)
    if (item.end > inner.end) throw new Error('BlockReplays: a record runs past its list')
    items.push(body.subarray(pos, item.end))
    pos = item.end
  }
  return items
}

// ZKS_PEER_RECORDS: `<block> <hex>` per line → [{ block, item }], in file order.
const loadRecords = (file) =>
  readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l.length > 0).map((line, i) => {
    const m = /^(\d+) ([0-9a-fA-F]*)$/.exec(line)
    if (m === null || m[2].length % 2 !== 0) throw new Error(`${file}:${i + 1}: want \`<block> <hex>\``)
    return { block: Number(m[1]), item: hexToBytes('0x' + m[2]) }
  })
const RECORDS = process.env.ZKS_PEER_RECORDS ? loadRecords(process.env.ZKS_PEER_RECORDS) : undefined
const MAX_RECORDS_PER_MESSAGE = 64
const RECORDS_MAX = process.env.ZKS_PEER_RECORDS_MAX ? Number(process.env.ZKS_PEER_RECORDS_MAX) : Infinity
if (!(RECORDS_MAX >= 1)) throw new Error(`ZKS_PEER_RECORDS_MAX=${process.env.ZKS_PEER_RECORDS_MAX}: want a number >= 1`)

class Zks extends Scripted {
  static capName = 'zks'
  constructor(version, peer, send) {
    // An MN (ZKS_PEER_RECORDS) asks nothing and answers requests itself.
    const mn = RECORDS !== undefined
    super(version, peer, send, 'zks',
      parseMessages(process.env.ZKS_PEER_ZKS_OPEN ?? (mn ? '' : '0:c32ac040')),
      parseReplies(process.env.ZKS_PEER_ZKS_REPLY ?? (mn ? '' : '0>1:c9c8c40582aabbc20680')))
  }
  _handleMessage(code, data) {
    super._handleMessage(code, data)
    if (code === 0x01) this.printRecords(data)
    if (code === 0x00 && RECORDS !== undefined) this.serve(data)
    // Test hook (added in this repository's copy): leave with a chosen reason on BlockReplays.
    const reason = process.env.ZKS_PEER_DISCONNECT_ON_REPLAYS
    if (code === 0x01 && reason !== undefined) this._peer.disconnect(Number(reason))
  }
  // Upstream EN: one line per record, its bytes as they arrived.
  printRecords(body) {
    let items
    try { items = recordItems(body) } catch (e) { out({ event: 'error', message: String(e) }); return }
    items.forEach((item, index) => out({ event: 'record', index, hex: bytesToHex(item).slice(2) }))
  }
  // Upstream MN: GetBlockReplays `[starting_block, overrides, max?]` → the held records from
  // `starting_block` on, `max` per BlockReplays.
  async serve(body) {
    let start, max
    try {
      const fields = RLP.decode(body)
      if (!Array.isArray(fields) || fields.length < 2 || fields.length > 3 || !(fields[0] instanceof Uint8Array)
          || !Array.isArray(fields[1]) || (fields.length === 3 && !(fields[2] instanceof Uint8Array))) {
        throw new Error('not [starting_block, overrides, max?]')
      }
      start = bytesToInt(fields[0])
      max = fields.length === 3 ? bytesToInt(fields[2]) : 1
    } catch (e) {
      out({ event: 'error', message: `GetBlockReplays ${bytesToHex(body)}: ${e}` })
      return
    }
    max = Math.min(Math.max(max, 1), MAX_RECORDS_PER_MESSAGE, RECORDS_MAX)
    let pos = RECORDS.findIndex((r) => r.block === start)
    if (pos < 0) { out({ event: 'not_held', starting_block: start }); return }
    const socket = this._peer['_socket']
    while (pos < RECORDS.length) {
      if (this._peer['_closed'] || socket.destroyed) return
      const chunk = RECORDS.slice(pos, pos + max)
      this.sendMessage(0x01, rlpList([rlpList(chunk.map((r) => r.item))]))
      out({ event: 'sent', first: chunk[0].block, count: chunk.length })
      pos += chunk.length
      // As fast as the link takes them: wait for the socket to drain (or close).
      if (socket.writableNeedDrain) {
        await new Promise((resolve) => { socket.once('drain', resolve); socket.once('close', resolve) })
      }
    }
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

// Scripted passive `eth/68` or `eth/69` (this repository's addition), enabled by ZKS_PEER_ETH: it
// answers the other side's Status with the same Status (so the chains match; eth/68's
// `[version, networkid, td, blockhash, genesis, forkid]` or eth/69's `[version, networkid,
// genesis, forkid, earliest, latest, blockhash]`, echoed whole), on eth/68 altered first as
// ZKS_PEER_ETH_TAMPER says (network | genesis | fork | version) to provoke a mismatch, and prints
// every eth message it receives.
class Eth {
  static capName = 'eth'
  constructor(version, peer, send) { this._version = version; this._peer = peer; this._send = send }
  compressed() { const v = this._peer['_hello']?.protocolVersion; return v !== undefined && v >= 5 }
  _handleMessage(code, data) {
    out({ event: 'eth', id: code, payload_hex: bytesToHex(data).slice(2) })
    if (code !== 0x00 || this._answered) return
    this._answered = true
    // eth/68: [version, networkid, td, blockhash, genesis, [forkhash, next]] (the only layout tampered)
    const fields = RLP.decode(data)
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
const ETH_LENGTH = { 68: 17, 69: 18 }
const zksVersion = Number(process.env.ZKS_PEER_ZKS ?? 3)
const twofaVersion = process.env.ZKS_PEER_2FA ? Number(process.env.ZKS_PEER_2FA) : undefined
const ethVersion = process.env.ZKS_PEER_ETH
  ? ({ 1: 68, 68: 68, 69: 69 })[process.env.ZKS_PEER_ETH]
  : undefined
if (process.env.ZKS_PEER_ETH && ethVersion === undefined) {
  throw new Error(`ZKS_PEER_ETH=${process.env.ZKS_PEER_ETH}: want 1, 68 or 69`)
}
if (process.env.ZKS_PEER_ETH_TAMPER && ethVersion !== 68) {
  throw new Error('ZKS_PEER_ETH_TAMPER alters eth/68 Status only (ZKS_PEER_ETH=1 or 68)')
}

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
    ...(ethVersion !== undefined
      ? [{ name: 'eth', version: ethVersion, length: ETH_LENGTH[ethVersion], constructor: Eth }]
      : []),
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
