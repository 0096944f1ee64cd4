/**
 * How the MVCC store lays its data out in backend tables, and the codecs for it.
 *
 * - `rev`:   16-byte revision key (8-byte big-endian main, 8-byte big-endian sub, so keys sort
 *            numerically) -> the put's key, value, create, mod, version and lease, or a
 *            tombstone's key (fixed binary layouts, below).
 * - `lease`: 8-byte lease id (uint64 big-endian) + index key -> [1], or the whole key when the
 *            index key is a prefix and hash of a long key (indexKeyOf; LMDB keys stop at 1978
 *            bytes, user keys do not): the keys attached to a lease.
 *
 * There is no key index in the backend: it lives in memory (key-index.ts), derived from `rev`, as
 * etcd's treeIndex is from its key bucket. A put therefore writes one record at the end of `rev`
 * and the meta record, never a page of a key-ordered table.
 * - `alarms`: 8-byte member id (uint64 big-endian) + the alarm's name (utf8) -> [1]: the raised
 *            alarms (etcd's alarm bucket), so a restart keeps them.
 * - `meta`:  'state' -> current, compacted, appliedIndex, compactTarget (float64 each), a flag
 *            and the compaction cursor (fixed binary layout: it is read by every request).
 *
 * Decoded records keep views into the bytes they were decoded from. Backend bytes are stable (see
 * Backend), so that is safe.
 */
import { Packr } from 'msgpackr';
import {
  assert, readUint32BE, readUint64BE, utf8, writeUint32BE, writeUint64BE,
} from '../base/index.js';
import type { KeyValue, StoredMember } from './types.js';

export const TABLES = {
  rev: 'mvcc.rev',
  lease: 'mvcc.lease',
  leases: 'mvcc.leases',
  alarms: 'mvcc.alarms',
  meta: 'mvcc.meta',
} as const;

/** The backend tables the MVCC store needs; open the backend with at least these. */
export const MVCC_TABLES: readonly string[] = Object.values(TABLES);

const packr = new Packr({ useRecords: false, int64AsType: 'bigint' });

/** Bytes of one slab of `ownBytes` copies; larger values get their own buffer. */
const SLAB_BYTES = 16 * 1024;
const SLAB_VALUE_BYTES_MAX = 2 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

/**
 * A private copy of `bytes` (request keys and values the store keeps). Small copies are carved
 * out of 16 KiB slabs, as Node's Buffer pool does, because allocating a small exact-size
 * Uint8Array costs several times more. A copy may therefore be a view into a larger buffer:
 * copy it to exact size before posting it to another thread.
 */
export function ownBytes(bytes: Uint8Array): Uint8Array {
  const n = bytes.length;
  // Uint8Array.prototype.slice copies even for a Buffer, whose own slice() is a view.
  if (n > SLAB_VALUE_BYTES_MAX) return Uint8Array.prototype.slice.call(bytes);
  if (slabUsed + n > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + n);
  out.set(bytes);
  slabUsed += (n + 7) & ~7;
  return out;
}

export function pack(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function unpack(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

// ---- revision keys ----

export const REV_KEY_BYTES = 16;

const writeU64 = writeUint64BE;
const writeU32 = writeUint32BE;

export function revKey(main: number, sub: number): Uint8Array {
  const out = new Uint8Array(REV_KEY_BYTES);
  writeU64(out, 0, main);
  writeU64(out, 8, sub);
  return out;
}

const revKeyLookup = new Uint8Array(REV_KEY_BYTES);

/**
 * `revKey` in one reused buffer, for lookups (get, peek, put: the backend copies keys and never
 * keeps them); valid until the next call.
 */
export function revKeyScratch(main: number, sub: number): Uint8Array {
  writeU64(revKeyLookup, 0, main);
  writeU64(revKeyLookup, 8, sub);
  return revKeyLookup;
}

/** A stored revision, version or count: a safe integer in 8 bytes. */
function readU64(bytes: Uint8Array, at: number): number {
  const n = readUint64BE(bytes, at);
  assert(Number.isSafeInteger(n), 'a stored number is a safe integer');
  return n;
}

export function revKeyMain(key: Uint8Array): number {
  assert(key.length === REV_KEY_BYTES, 'revision keys are 16 bytes');
  return readU64(key, 0);
}

export function revKeySub(key: Uint8Array): number {
  assert(key.length === REV_KEY_BYTES, 'revision keys are 16 bytes');
  return readU64(key, 8);
}

// ---- rev records: a fixed binary layout ----
//
// They are read on every request and written on every put, so they have a fixed layout
// read with plain byte arithmetic (no DataView, no msgpack): numbers are unsigned 64-bit
// big-endian (revisions and versions are safe integers; a lease is its int64 as two's
// complement). They replaced msgpack arrays, whose encode and decode were the store's largest
// own cost per put and per single-key read (bench:mvcc).
//
// rev record, put:       [1] create mod version lease (u64 each) keyLength (u32) key value
// rev record, tombstone: [0] key

const KV_PUT = 1;
const KV_TOMBSTONE = 0;
const KV_HEADER_BYTES = 1 + 4 * 8 + 4;

/**
 * Encoders write into one growing scratch buffer per record kind and return a view of it: the
 * bytes are valid until the next encode of the same kind, which is all `WriteTxn.put` needs (it
 * copies before returning). Records above SCRATCH_KEEP_BYTES get a buffer of their own.
 */
const SCRATCH_KEEP_BYTES = 64 * 1024;

class Scratch {
  #bytes = new Uint8Array(4096);

  /** A buffer of at least `n` bytes: this scratch (grown if needed), or a fresh one above the keep size. */
  take(n: number): Uint8Array {
    if (n > SCRATCH_KEEP_BYTES) return new Uint8Array(n);
    if (this.#bytes.length < n) this.#bytes = new Uint8Array(Math.max(n, 2 * this.#bytes.length));
    return this.#bytes;
  }
}

const kvScratch = new Scratch();

function writeLease(out: Uint8Array, at: number, lease: bigint): void {
  if (lease === 0n) {
    out.fill(0, at, at + 8);
    return;
  }
  const u = BigInt.asUintN(64, lease);
  writeU32(out, at, Number(u >> 32n));
  writeU32(out, at + 4, Number(u & 0xffff_ffffn));
}

function leaseAt(b: Uint8Array, at: number): bigint {
  const hi = readUint32BE(b, at);
  const lo = readUint32BE(b, at + 4);
  if (hi === 0 && lo === 0) return 0n;
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
}

/** The rev record of a put; a view of scratch bytes, valid until the next encodeKv. */
export function encodeKv(kv: KeyValue): Uint8Array {
  const n = KV_HEADER_BYTES + kv.key.length + kv.value.length;
  const out = kvScratch.take(n);
  out[0] = KV_PUT;
  writeU64(out, 1, kv.createRevision);
  writeU64(out, 9, kv.modRevision);
  writeU64(out, 17, kv.version);
  writeLease(out, 25, kv.lease);
  writeU32(out, 33, kv.key.length);
  out.set(kv.key, KV_HEADER_BYTES);
  out.set(kv.value, KV_HEADER_BYTES + kv.key.length);
  return out.subarray(0, n);
}

/** The rev record of a deletion; a view of scratch bytes, valid until the next encodeKv. */
export function encodeTombstone(key: Uint8Array): Uint8Array {
  const out = kvScratch.take(1 + key.length);
  out[0] = KV_TOMBSTONE;
  out.set(key, 1);
  return out.subarray(0, 1 + key.length);
}

/** Decodes a rev record: a KeyValue, or `{ key }` alone for a tombstone. Bytes are views. */
export function decodeKv(bytes: Uint8Array): KeyValue | { key: Uint8Array; tombstone: true } {
  assert(bytes.length >= 1, 'a rev record is not empty');
  if (bytes[0] === KV_TOMBSTONE) return { key: bytes.subarray(1), tombstone: true };
  assert(bytes[0] === KV_PUT && bytes.length >= KV_HEADER_BYTES, 'a rev record is a put or a tombstone');
  const keyLength = readUint32BE(bytes, 33);
  assert(KV_HEADER_BYTES + keyLength <= bytes.length, 'a rev record holds its key');
  return {
    key: bytes.subarray(KV_HEADER_BYTES, KV_HEADER_BYTES + keyLength),
    value: bytes.subarray(KV_HEADER_BYTES + keyLength),
    createRevision: readU64(bytes, 1),
    modRevision: readU64(bytes, 9),
    version: readU64(bytes, 17),
    lease: leaseAt(bytes, 25),
  };
}

/**
 * The KeyValue of a put's rev record read from borrowed bytes (ReadTxn.peek): the value is copied
 * (ownBytes), the key is `key` (the index's copy of the same key) instead of a copy.
 */
export function decodePutOwned(bytes: Uint8Array, key: Uint8Array): KeyValue {
  assert(bytes.length >= KV_HEADER_BYTES && bytes[0] === KV_PUT, 'a found revision is a put');
  const keyLength = readUint32BE(bytes, 33);
  assert(keyLength === key.length && KV_HEADER_BYTES + keyLength <= bytes.length,
    'a rev record holds the key it is indexed under');
  return {
    key,
    value: ownBytes(bytes.subarray(KV_HEADER_BYTES + keyLength)),
    createRevision: readU64(bytes, 1),
    modRevision: readU64(bytes, 9),
    version: readU64(bytes, 17),
    lease: leaseAt(bytes, 25),
  };
}

/** The 8-byte hash of a long key: two independent 32-bit FNV-1a variants. */
function hash8(key: Uint8Array): Uint8Array {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ key.length;
  for (let i = 0; i < key.length; i++) {
    h1 = Math.imul(h1 ^ key[i]!, 0x01000193);
    h2 = Math.imul(h2 ^ key[i]!, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, h1 >>> 0);
  view.setUint32(4, h2 >>> 0);
  return out;
}

/** How the `lease` table names a key: the key itself, or its first bytes and a hash if longer. */
export function indexKeyOf(key: Uint8Array, indexKeyBytesMax: number): Uint8Array {
  if (key.length <= indexKeyBytesMax) return key;
  const out = new Uint8Array(indexKeyBytesMax + 8);
  out.set(key.subarray(0, indexKeyBytesMax));
  out.set(hash8(key), indexKeyBytesMax);
  return out;
}

// ---- lease attachments ----

export function leaseKey(lease: bigint, indexKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + indexKey.length);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, lease));
  out.set(indexKey, 8);
  return out;
}

export function leasePrefix(lease: bigint): Uint8Array {
  return leaseKey(lease, new Uint8Array(0));
}

/** The value of a table whose keys are the whole record (lease attachments, alarms). */
export const PRESENT_MARK = pack([1]);

// ---- lease records (owned by the lease subsystem; stored here so they commit with the batch) ----

/** `leases` table key: the lease id as 8-byte big-endian uint64. */
export function leaseRecordKey(id: bigint): Uint8Array {
  return leasePrefix(id);
}

export function encodeLeaseRecord(ttlSeconds: number, remainingTtlSeconds: number): Uint8Array {
  assert(Number.isSafeInteger(ttlSeconds) && ttlSeconds > 0, 'a stored lease TTL is positive');
  assert(Number.isSafeInteger(remainingTtlSeconds) && remainingTtlSeconds >= 0,
    'a stored remaining TTL is >= 0');
  return pack([ttlSeconds, remainingTtlSeconds]);
}

export function decodeLeaseRecord(key: Uint8Array, value: Uint8Array):
  { id: bigint; ttlSeconds: number; remainingTtlSeconds: number } {
  assert(key.length === 8, 'a lease record key is 8 bytes');
  const id = BigInt.asIntN(64, new DataView(key.buffer, key.byteOffset, 8).getBigUint64(0));
  const a = unpack(value);
  assert(Array.isArray(a) && a.length === 2, 'a lease record is [ttl, remaining]');
  const [ttlSeconds, remainingTtlSeconds] = a as unknown[];
  assert(typeof ttlSeconds === 'number' && typeof remainingTtlSeconds === 'number',
    'lease record fields are numbers');
  return { id, ttlSeconds, remainingTtlSeconds };
}

// ---- alarm records (owned by apply; stored here so they commit with the batch) ----

export function alarmKey(memberId: bigint, alarm: string): Uint8Array {
  assert(alarm.length > 0, 'an alarm has a name');
  return leaseKey(memberId, utf8(alarm));
}

export function decodeAlarmKey(key: Uint8Array): { memberId: bigint; alarm: string } {
  assert(key.length > 8, 'an alarm key is a member id and a name');
  const memberId = new DataView(key.buffer, key.byteOffset, 8).getBigUint64(0);
  return { memberId, alarm: new TextDecoder().decode(key.subarray(8)) };
}

// ---- member records (owned by apply, like alarms) ----
// They live in the meta table under MEMBER_PREFIX: a table of their own would cost a page of
// every env, which a small --quota-backend-bytes feels (etcd's TestCtlV3Alarm runs at 13 pages).

export const MEMBER_PREFIX = utf8('member/');

export function memberKey(id: bigint): Uint8Array {
  const key = new Uint8Array(MEMBER_PREFIX.length + 8);
  key.set(MEMBER_PREFIX, 0);
  key.set(leasePrefix(id), MEMBER_PREFIX.length);
  return key;
}

export function encodeMemberRecord(m: StoredMember): Uint8Array {
  return pack([m.name, [...m.peerUrls], [...m.clientUrls], m.isLearner, m.removed]);
}

export function decodeMemberRecord(key: Uint8Array, value: Uint8Array): StoredMember {
  assert(key.length === MEMBER_PREFIX.length + 8, 'a member key is the prefix and its id');
  const id = new DataView(key.buffer, key.byteOffset + MEMBER_PREFIX.length, 8).getBigUint64(0);
  const v = unpack(value);
  assert(Array.isArray(v) && v.length === 5, 'a member record has five fields');
  const [name, peerUrls, clientUrls, isLearner, removed] = v as unknown[];
  const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((u) => typeof u === 'string');
  assert(typeof name === 'string' && strings(peerUrls) && strings(clientUrls)
    && typeof isLearner === 'boolean' && typeof removed === 'boolean', 'member record fields');
  return { id, name, peerUrls, clientUrls, isLearner, removed };
}

// ---- meta ----

export interface MetaState {
  readonly current: number;
  /** -1 until the first compaction. */
  readonly compacted: number;
  readonly appliedIndex: number;
  /** Revision whose physical compaction is in progress, or -1. */
  readonly compactTarget: number;
  /**
   * The `rev` key after which the next compaction slice starts; null = from the beginning. (A
   * store of the older layout kept an index key here: any cursor that is not a revision key is
   * taken as null, which only repeats finished slices.)
   */
  readonly compactCursor: Uint8Array | null;
}

export const META_KEY = utf8('state');

export const INITIAL_META: MetaState = {
  current: 1, compacted: -1, appliedIndex: 0, compactTarget: -1, compactCursor: null,
};

/** Fixed layout, read on every request: four float64 (exact to 2^53) then the cursor bytes. */
const META_FIXED_BYTES = 33;

export function encodeMeta(m: MetaState): Uint8Array {
  const cursor = m.compactCursor;
  const out = new Uint8Array(META_FIXED_BYTES + (cursor?.length ?? 0));
  const view = new DataView(out.buffer);
  view.setFloat64(0, m.current);
  view.setFloat64(8, m.compacted);
  view.setFloat64(16, m.appliedIndex);
  view.setFloat64(24, m.compactTarget);
  out[32] = cursor === null ? 0 : 1;
  if (cursor !== null) out.set(cursor, META_FIXED_BYTES);
  return out;
}

export function decodeMeta(bytes: Uint8Array | undefined): MetaState {
  if (bytes === undefined) return INITIAL_META;
  assert(bytes.length >= META_FIXED_BYTES, 'meta record has its fixed part');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const current = view.getFloat64(0);
  const compacted = view.getFloat64(8);
  const appliedIndex = view.getFloat64(16);
  const compactTarget = view.getFloat64(24);
  assert(Number.isSafeInteger(current) && current >= 1, 'meta current revision');
  assert(Number.isSafeInteger(compacted) && compacted >= -1, 'meta compacted revision');
  assert(Number.isSafeInteger(appliedIndex) && appliedIndex >= 0, 'meta applied index');
  assert(Number.isSafeInteger(compactTarget) && compactTarget >= -1, 'meta compact target');
  const compactCursor = bytes[32] === 1 && bytes.length === META_FIXED_BYTES + REV_KEY_BYTES
    ? ownBytes(bytes.subarray(META_FIXED_BYTES, bytes.length)) : null;
  return { current, compacted, appliedIndex, compactTarget, compactCursor };
}
