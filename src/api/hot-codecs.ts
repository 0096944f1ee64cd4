/**
 * Hand-written codecs for the messages on the hot path (PutRequest and RangeRequest decode;
 * PutResponse, RangeResponse and WatchResponse encode). They read and write the wire directly
 * through protobufjs' Reader and Writer, with no intermediate objects and no Long: 64-bit values
 * are read as two halves and converted once (src/api/int64.ts), and small non-negative numbers
 * are written as plain varints. Their output is byte-identical to the reflection codecs
 * (src/api/codec.ts), which a property test checks.
 */
import protobuf from 'protobufjs/light.js';
import { assert } from '../base/index.js';
import type { Codec, Init } from './codec.js';
import { finishWriter, reflectCodec, takeWriter } from './codec.js';
import { assertWireInteger, bigintToBits, int64BitsToBigint, int64BitsToNumber } from './int64.js';
import type {
  Event, KeyValue, PutRequest, PutResponse, RangeRequest, RangeResponse, ResponseHeader,
  WatchResponse,
} from './types.generated.js';

const { Reader, Writer } = protobuf;
const EMPTY = new Uint8Array(0);

// Wire types.
const VARINT = 0;
const LEN = 2;

// ---- reading -----------------------------------------------------------------------------------

let bitsLo = 0;
let bitsHi = 0;

/** Reads a varint of up to 64 bits into bitsLo / bitsHi. */
function readVarint64(r: protobuf.Reader): void {
  let lo = 0;
  let hi = 0;
  const buf = r.buf;
  let b = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    b = byteAt(r, buf);
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) return setBits(lo, 0);
  }
  b = byteAt(r, buf);
  lo |= (b & 0x7f) << 28;
  hi = (b & 0x7f) >> 4;
  if (b < 0x80) return setBits(lo, hi);
  for (let shift = 3; shift < 32; shift += 7) {
    b = byteAt(r, buf);
    hi |= (b & 0x7f) << shift;
    if (b < 0x80) return setBits(lo, hi);
  }
  throw new Error('invalid varint encoding');
}

function byteAt(r: protobuf.Reader, buf: Uint8Array): number {
  if (r.pos >= r.len) throw new RangeError(`index out of range: ${r.pos} + 1 > ${r.len}`);
  const b = buf[r.pos++];
  assert(b !== undefined, 'position checked against length');
  return b;
}

function setBits(lo: number, hi: number): void {
  bitsLo = lo >>> 0;
  bitsHi = hi >>> 0;
}

function readInt64Number(r: protobuf.Reader): number {
  readVarint64(r);
  return int64BitsToNumber(bitsLo, bitsHi);
}

function readInt64Bigint(r: protobuf.Reader): bigint {
  readVarint64(r);
  return int64BitsToBigint(bitsLo, bitsHi);
}

function readBool(r: protobuf.Reader): boolean {
  readVarint64(r);
  return bitsLo !== 0 || bitsHi !== 0;
}

function expectWire(tag: number, wire: number): void {
  if ((tag & 7) !== wire) {
    throw new Error(`invalid wire type ${tag & 7} for field ${tag >>> 3}, expected ${wire}`);
  }
}

/** Reads a length-delimited bytes field. */
function bytesField(r: protobuf.Reader, tag: number): Uint8Array {
  expectWire(tag, LEN);
  return r.bytes();
}

// ---- writing -----------------------------------------------------------------------------------

/** Writes an integer as an int64 varint; a uint32 varint is the same bytes for 0..2^32-1. */
function writeInt64(w: protobuf.Writer, n: number, field: string): void {
  if (n >>> 0 === n) w.uint32(n);
  else {
    assertWireInteger(n, field);
    w.int64(n);
  }
}

/**
 * Bits of recently written 64-bit ids: every response header repeats the same cluster and member
 * ids, and splitting a bigint costs more than a lookup. Cleared when full.
 */
const BITS_CACHE_MAX = 64;
const bitsCache = new Map<bigint, ReturnType<typeof bigintToBits>>();

function bitsOf(v: bigint): ReturnType<typeof bigintToBits> {
  let bits = bitsCache.get(v);
  if (bits === undefined) {
    bits = bigintToBits(v);
    if (bitsCache.size >= BITS_CACHE_MAX) bitsCache.clear();
    bitsCache.set(v, bits);
  }
  return bits;
}

function writeBigint64(w: protobuf.Writer, v: bigint): void {
  if (v >= 0n && v < 0x80000000n) w.uint32(Number(v));
  else w.int64(bitsOf(v) as unknown as protobuf.Long);
}

/**
 * The encoded cluster_id and member_id fields of the last header written: a member writes the
 * same two ids in every response header, so they are encoded once and copied after that (a
 * bigint compare is cheaper than splitting or hashing one).
 */
let idsCluster: bigint | undefined = undefined;
let idsMember: bigint | undefined = undefined;
let idsBytes: Uint8Array = EMPTY;

function headerIds(cluster: bigint | undefined, member: bigint | undefined): Uint8Array {
  if (cluster === idsCluster && member === idsMember) return idsBytes;
  const w = Writer.create();
  if (cluster !== undefined && cluster !== 0n) writeBigint64(w.uint32(8), cluster);
  if (member !== undefined && member !== 0n) writeBigint64(w.uint32(16), member);
  idsBytes = w.finish();
  idsCluster = cluster;
  idsMember = member;
  return idsBytes;
}

type ReservingWriter = protobuf.Writer & { _reserve(n: number): void };
assert(typeof (Writer.prototype as ReservingWriter)._reserve === 'function',
  'protobufjs Writer grows its buffer in place (protobufjs 8)');

/** Appends bytes already encoded. */
function writeRaw(w: protobuf.Writer, bytes: Uint8Array): void {
  // protobufjs 8's Writer grows its buffer in place; _reserve is how its own bytes() makes room.
  (w as ReservingWriter)._reserve(bytes.length);
  const buf = w.buf;
  let pos = w.pos;
  for (let i = 0; i < bytes.length; i++) buf[pos++] = bytes[i] as number;
  w.pos = pos;
}

function encodeHeader(w: protobuf.Writer, h: Init<ResponseHeader>): void {
  writeRaw(w, headerIds(h.cluster_id, h.member_id));
  if (h.revision !== undefined && h.revision !== 0) writeInt64(w.uint32(24), h.revision, 'revision');
  if (h.raft_term !== undefined && h.raft_term !== 0) {
    assert(h.raft_term > 0, `raft_term is uint64, got ${h.raft_term}`);
    writeInt64(w.uint32(32), h.raft_term, 'raft_term');
  }
}

function encodeKeyValue(w: protobuf.Writer, kv: Init<KeyValue>): void {
  if (kv.key !== undefined && kv.key.length > 0) w.uint32(10).bytes(kv.key);
  if (kv.create_revision) writeInt64(w.uint32(16), kv.create_revision, 'create_revision');
  if (kv.mod_revision) writeInt64(w.uint32(24), kv.mod_revision, 'mod_revision');
  if (kv.version) writeInt64(w.uint32(32), kv.version, 'version');
  if (kv.value !== undefined && kv.value.length > 0) w.uint32(42).bytes(kv.value);
  if (kv.lease !== undefined && kv.lease !== 0n) writeBigint64(w.uint32(48), kv.lease);
}

function encodeEvent(w: protobuf.Writer, ev: Init<Event>): void {
  if (ev.type) w.uint32(8).int32(ev.type);
  if (ev.kv !== undefined) {
    encodeKeyValue(w.uint32(18).fork(), ev.kv);
    w.ldelim();
  }
  if (ev.prev_kv !== undefined) {
    encodeKeyValue(w.uint32(26).fork(), ev.prev_kv);
    w.ldelim();
  }
}

function header(w: protobuf.Writer, h: Init<ResponseHeader> | undefined): void {
  if (h === undefined) return;
  encodeHeader(w.uint32(10).fork(), h);
  w.ldelim();
}

// ---- the codecs --------------------------------------------------------------------------------

function decodePutRequest(bytes: Uint8Array): PutRequest {
  const r = Reader.create(bytes);
  const m: PutRequest = {
    key: EMPTY, value: EMPTY, lease: 0n, prev_kv: false, ignore_value: false, ignore_lease: false,
  };
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1: m.key = bytesField(r, tag); break;
      case 2: m.value = bytesField(r, tag); break;
      case 3: expectWire(tag, VARINT); m.lease = readInt64Bigint(r); break;
      case 4: expectWire(tag, VARINT); m.prev_kv = readBool(r); break;
      case 5: expectWire(tag, VARINT); m.ignore_value = readBool(r); break;
      case 6: expectWire(tag, VARINT); m.ignore_lease = readBool(r); break;
      default: r.skipType(tag & 7); break;
    }
  }
  return m;
}

function decodeRangeRequest(bytes: Uint8Array): RangeRequest {
  const r = Reader.create(bytes);
  const m: RangeRequest = {
    key: EMPTY, range_end: EMPTY, limit: 0, revision: 0, sort_order: 0, sort_target: 0,
    serializable: false, keys_only: false, count_only: false, min_mod_revision: 0,
    max_mod_revision: 0, min_create_revision: 0, max_create_revision: 0,
  };
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === 1) m.key = bytesField(r, tag);
    else if (field === 2) m.range_end = bytesField(r, tag);
    else if (field >= 3 && field <= 13) {
      expectWire(tag, VARINT);
      readVarint64(r);
      setRangeScalar(m, field);
    } else r.skipType(tag & 7);
  }
  return m;
}

/** Assigns the varint just read (bitsLo/bitsHi) to RangeRequest field 3..13. */
function setRangeScalar(m: RangeRequest, field: number): void {
  const n = int64BitsToNumber(bitsLo, bitsHi);
  const flag = bitsLo !== 0 || bitsHi !== 0;
  switch (field) {
    case 3: m.limit = n; break;
    case 4: m.revision = n; break;
    // Enums are int32 on the wire: the low 32 bits, signed.
    case 5: m.sort_order = bitsLo | 0; break;
    case 6: m.sort_target = bitsLo | 0; break;
    case 7: m.serializable = flag; break;
    case 8: m.keys_only = flag; break;
    case 9: m.count_only = flag; break;
    case 10: m.min_mod_revision = n; break;
    case 11: m.max_mod_revision = n; break;
    case 12: m.min_create_revision = n; break;
    default: m.max_create_revision = n; break;
  }
}

function writePutResponse(w: protobuf.Writer, m: Init<PutResponse>): void {
  header(w, m.header);
  if (m.prev_kv !== undefined) {
    encodeKeyValue(w.uint32(18).fork(), m.prev_kv);
    w.ldelim();
  }
}

function writeRangeResponse(w: protobuf.Writer, m: Init<RangeResponse>): void {
  header(w, m.header);
  if (m.kvs !== undefined) {
    for (const kv of m.kvs) {
      encodeKeyValue(w.uint32(18).fork(), kv);
      w.ldelim();
    }
  }
  if (m.more === true) w.uint32(24).bool(true);
  if (m.count) writeInt64(w.uint32(32), m.count, 'count');
}

function writeWatchResponse(w: protobuf.Writer, m: Init<WatchResponse>): void {
  header(w, m.header);
  if (m.watch_id) writeInt64(w.uint32(16), m.watch_id, 'watch_id');
  if (m.created === true) w.uint32(24).bool(true);
  if (m.canceled === true) w.uint32(32).bool(true);
  if (m.compact_revision) writeInt64(w.uint32(40), m.compact_revision, 'compact_revision');
  if (m.cancel_reason !== undefined && m.cancel_reason !== '') {
    w.uint32(50).string(m.cancel_reason);
  }
  if (m.fragment === true) w.uint32(56).bool(true);
  if (m.events !== undefined) {
    for (const ev of m.events) {
      encodeEvent(w.uint32(90).fork(), ev);
      w.ldelim();
    }
  }
}

/** Reflection codec with the hot direction replaced by the hand-written one. */
function withDecode<T>(base: Codec<T>, decode: (bytes: Uint8Array) => T): Codec<T> {
  return { typeName: base.typeName, encode: base.encode, encodeFramed: base.encodeFramed, decode };
}

function withEncode<T>(base: Codec<T>, write: (w: protobuf.Writer, m: Init<T>) => void): Codec<T> {
  return {
    typeName: base.typeName,
    encode(m) {
      const w = takeWriter(false);
      write(w, m);
      return finishWriter(w, false);
    },
    encodeFramed(m) {
      const w = takeWriter(true);
      write(w, m);
      return finishWriter(w, true);
    },
    decode: base.decode,
  };
}

export const hotCodecs = {
  'etcdserverpb.PutRequest': withDecode(reflectCodec('etcdserverpb.PutRequest'), decodePutRequest),
  'etcdserverpb.RangeRequest':
    withDecode(reflectCodec('etcdserverpb.RangeRequest'), decodeRangeRequest),
  'etcdserverpb.PutResponse':
    withEncode(reflectCodec('etcdserverpb.PutResponse'), writePutResponse),
  'etcdserverpb.RangeResponse':
    withEncode(reflectCodec('etcdserverpb.RangeResponse'), writeRangeResponse),
  'etcdserverpb.WatchResponse':
    withEncode(reflectCodec('etcdserverpb.WatchResponse'), writeWatchResponse),
} as const;
