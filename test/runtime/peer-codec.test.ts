/**
 * The peer wire format: every message type a member sends another survives encode/decode exactly
 * (fast-check over random messages), local types and MsgSnap never cross, and each kind of bad
 * payload is refused with a reason instead of reaching the Raft core: not msgpack, the wrong
 * shape, an unknown or local type, out-of-range numbers, too many entries, an append whose
 * entries are not contiguous or whose terms go back, a hello of another protocol version. The
 * lease frames (forwarded keepalives and their answers) round-trip and are checked the same way.
 */
import t from 'tap';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import type { MemberId } from '../../src/base/index.js';
import { message, type Entry, type Message } from '../../src/raft/index.js';
import {
  PEER_PROTOCOL_VERSION, WIRE_MESSAGE_TYPES, crossesWire, decodeFrame, decodeHello, decodeMessage,
  decodeSnapFrame, encodeHello, encodeLeaseFrame, encodeMessage, encodeSnapFrame, type SnapFrame,
} from '../../src/runtime/node/peer-codec.js';

const LIMITS = { entriesMax: 8 };
const payloadOf = (frame: Buffer): Buffer => {
  t.equal(frame.readUInt32BE(0), frame.length - 4, 'the prefix is the payload length');
  return frame.subarray(4);
};
const packr = new Packr({ useRecords: false });

const id = fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }).map((v) => v as MemberId);
const count = fc.integer({ min: 0, max: 2 ** 40 });
const bytes = fc.uint8Array({ maxLength: 64 });

const arbMessage: fc.Arbitrary<Message> = fc.record({
  type: fc.constantFrom(...WIRE_MESSAGE_TYPES), to: id, from: id, term: count, logTerm: count,
  index: count, commit: count, reject: fc.boolean(), rejectHint: count,
  context: fc.option(bytes, { nil: null }),
  entryTerms: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: LIMITS.entriesMax }),
  entryTypes: fc.array(fc.constantFrom('normal' as const, 'confChange' as const), { minLength: LIMITS.entriesMax, maxLength: LIMITS.entriesMax }),
  data: fc.array(bytes, { minLength: LIMITS.entriesMax, maxLength: LIMITS.entriesMax }),
}).map((r) => {
  // Entries as an append carries them: contiguous after `index`, terms from logTerm up to term.
  let entryTerm = r.logTerm;
  const entries: Entry[] = r.entryTerms.map((step, k) => {
    entryTerm = Math.min(entryTerm + step, r.term + r.logTerm);
    return { term: entryTerm, index: r.index + 1 + k, type: r.entryTypes[k]!, data: r.data[k]! };
  });
  return message({
    type: r.type, to: r.to, from: r.from, term: r.term + r.logTerm, logTerm: r.logTerm, index: r.index,
    commit: r.commit, reject: r.reject, rejectHint: r.rejectHint, context: r.context, entries,
  });
});

t.test('every message type a peer may send survives the wire exactly', (t) => {
  fc.assert(fc.property(arbMessage, (m) => {
    const back = decodeMessage(payloadOf(encodeMessage(m)), LIMITS);
    if (typeof back === 'string') throw new Error(back);
    t.same(back, m);
    for (const e of back.entries) t.equal(e.data.buffer.byteLength, e.data.length, 'entry data is its own buffer');
  }), { numRuns: 300, seed: 20261207 });
  t.end();
});

t.test('local messages and snapshots never cross the wire', (t) => {
  for (const type of ['MsgHup', 'MsgBeat', 'MsgCheckQuorum', 'MsgUnreachable', 'MsgSnapStatus', 'MsgSnap'] as const) {
    t.notOk(crossesWire(type), type);
    const forged = packr.pack([type, 1, 2, 0, 0, 0, 0, false, 0, null, []]);
    t.match(decodeMessage(forged, LIMITS), /^bad message/, `${type} from a peer is refused`);
  }
  for (const type of WIRE_MESSAGE_TYPES) t.ok(crossesWire(type), type);
  t.end();
});

t.test('malformed payloads are refused with a reason', (t) => {
  const good = [ 'MsgApp', 1, 2, 5, 1, 3, 2, false, 0, null, [[2, 4, 0, Buffer.from('x')], [2, 5, 1, Buffer.from('y')]]];
  t.type(decodeMessage(packr.pack(good), LIMITS), 'object', 'the well-formed append decodes');
  const cases: [string, Uint8Array][] = [
    ['not msgpack', Buffer.from([0xc1])],
    ['truncated msgpack', packr.pack(good).subarray(0, 10)],
    ['a string', packr.pack('MsgApp')],
    ['a short tuple', packr.pack(good.slice(0, 5))],
    ['an unknown type', packr.pack(['MsgNope', ...good.slice(1)])],
    ['a negative term', packr.pack([...good.slice(0, 3), -1, ...good.slice(4)])],
    ['a fractional index', packr.pack([...good.slice(0, 5), 3.5, ...good.slice(6)])],
    ['a member id over 64 bits', packr.pack(['MsgApp', 1, 2 ** 70, ...good.slice(3)])],
    ['a string for reject', packr.pack([...good.slice(0, 7), 'no', ...good.slice(8)])],
    ['too many entries', packr.pack([...good.slice(0, 10), Array.from({ length: 9 }, (_, k) => [2, 4 + k, 0, Buffer.from('x')])])],
    ['an unknown entry type', packr.pack([...good.slice(0, 10), [[2, 4, 7, Buffer.from('x')]]])],
    ['entry data that is not bytes', packr.pack([...good.slice(0, 10), [[2, 4, 0, 'x']]])],
    ['an append with a gap', packr.pack([...good.slice(0, 10), [[2, 4, 0, Buffer.from('x')], [2, 6, 0, Buffer.from('y')]]])],
    ['an append not after its index', packr.pack([...good.slice(0, 10), [[2, 9, 0, Buffer.from('x')]]])],
    ['an append whose terms go back', packr.pack([...good.slice(0, 10), [[3, 4, 0, Buffer.from('x')], [2, 5, 0, Buffer.from('y')]]])],
    ['an entry term above the message term', packr.pack([...good.slice(0, 10), [[6, 4, 0, Buffer.from('x')]]])],
  ];
  for (const [what, payload] of cases) {
    const got = decodeMessage(payload, LIMITS);
    t.type(got, 'string', what);
  }
  t.end();
});

t.test('hello: round trip, and another version or shape is refused', (t) => {
  const h = {
    clusterId: (1n << 64n) - 1n, from: 5n as MemberId, to: (1n << 63n) as MemberId,
    clientUrls: ['http://127.0.0.1:2379', 'http://[::1]:2379'], purpose: 'snapshot' as const,
    name: 'member-a', peerUrls: ['https://10.0.0.1:2380'],
  };
  t.same(decodeHello(payloadOf(encodeHello(h))), h);
  t.match(decodeHello(packr.pack([PEER_PROTOCOL_VERSION + 1, 1, 2, 3, [], 'raft'])), /^bad hello/);
  t.match(decodeHello(packr.pack([PEER_PROTOCOL_VERSION, 1, 2, 3, 'raft'])), /^bad hello/, 'without client URLs');
  t.match(decodeHello(packr.pack([PEER_PROTOCOL_VERSION, 1, 2, 3, ['x'.repeat(1025)], 'raft'])), /^bad hello/, 'a URL too long');
  t.match(decodeHello(packr.pack([PEER_PROTOCOL_VERSION, 1, 2, 3, Array(17).fill('u'), 'raft'])), /^bad hello/, 'too many URLs');
  t.match(decodeHello(packr.pack([PEER_PROTOCOL_VERSION, 1, 2, 3, [], 'gossip'])), /^bad hello/, 'an unknown purpose');
  t.match(decodeHello(Buffer.from([0xc1])), /^(undecodable|bad hello)/);
  t.match(decodeHello(Buffer.from([0x93, 0x01])), /^undecodable/, 'a truncated array');
  t.end();
});

t.test('lease frames: round trip, and malformed ones are refused', (t) => {
  const request = {
    kind: 'leaseRequest', to: 1n as MemberId, from: 2n as MemberId, requestId: 7, op: 'renew',
    leaseId: -(1n << 63n), minApplied: 42,
  } as const;
  t.same(decodeFrame(payloadOf(encodeLeaseFrame(request)), LIMITS), request);
  const answers = [
    { ok: true, ttlSeconds: 60, grantedTtlSeconds: 60 },
    { ok: true, ttlSeconds: -1, grantedTtlSeconds: 0 },
    { ok: false, code: 'ErrNotPrimary' },
    { ok: false, code: 'ErrTooManyRequests' },
  ] as const;
  for (const answer of answers) {
    const f = { kind: 'leaseAnswer', to: 1n as MemberId, from: 2n as MemberId, requestId: 7, answer } as const;
    t.same(decodeFrame(payloadOf(encodeLeaseFrame(f)), LIMITS), f, JSON.stringify(answer));
  }
  const m = message({ type: 'MsgHeartbeat', to: 1n as MemberId, from: 2n as MemberId, term: 3 });
  t.same(decodeFrame(payloadOf(encodeMessage(m)), LIMITS), { kind: 'raft', message: m }, 'a Raft message');
  for (const [what, bad] of [
    ['an unknown op', ['LeaseRequest', 1, 2, 7, 'steal', 5, 0]],
    ['a lease id over 64 bits', ['LeaseRequest', 1, 2, 7, 'renew', 2 ** 64, 0]],
    ['a negative request id', ['LeaseRequest', 1, 2, -7, 'renew', 5, 0]],
    ['a refusal without its code', ['LeaseAnswer', 1, 2, 7, false, 0, 0, null]],
    ['an unknown code', ['LeaseAnswer', 1, 2, 7, false, 0, 0, 'ErrWhatever']],
    ['a TTL below -1', ['LeaseAnswer', 1, 2, 7, true, -5, 0, null]],
  ] as const) {
    t.type(decodeFrame(packr.pack(bad), LIMITS), 'string', what);
  }
  t.end();
});

t.test('snapshot frames: round trip, and malformed ones are refused', (t) => {
  const frames: SnapFrame[] = [
    { kind: 'meta', index: 5000, term: 3, voters: [1n as MemberId, ((1n << 64n) - 1n) as MemberId], learners: [], bytes: 1 << 30 },
    { kind: 'chunk', data: new Uint8Array([1, 2, 3]) },
    { kind: 'end', sha256: new Uint8Array(32).fill(9) },
    { kind: 'ack', ok: false, why: 'not newer' },
  ];
  for (const f of frames) {
    const back = decodeSnapFrame(payloadOf(encodeSnapFrame(f)));
    t.same(typeof back === 'object' && 'data' in back ? { ...back, data: Uint8Array.from(back.data) } : back, f, f.kind);
  }
  for (const [what, bad] of [
    ['a short hash', ['SnapEnd', new Uint8Array(31)]],
    ['a negative size', ['SnapMeta', 1, 1, [], [], -1]],
    ['an unknown frame', ['SnapNope', 1]],
    ['chunk data that is not bytes', ['SnapChunk', 'abc']],
  ] as const) {
    t.type(decodeSnapFrame(packr.pack(bad)), 'string', what);
  }
  t.end();
});
