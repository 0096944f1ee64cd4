/**
 * How the MVCC store lays its data out in backend tables, and the codecs for it.
 *
 * - `rev`:   16-byte revision key (8-byte big-endian main, 8-byte big-endian sub, so keys sort
 *            numerically) -> msgpackr positional array [key, value, create, mod, version, lease]
 *            for a put, or [key] for a tombstone.
 * - `index`: index key -> [fullKey | null, main, sub, revisions, latest]: the key's CURRENT state
 *            only, so a put reads and writes a record of constant size however long the key's
 *            history is. (main, sub) is the key's newest revision; `revisions` counts its
 *            `keyrev` entries (so compaction skips a key with one, reading nothing more);
 *            `latest` is its current
 *            [value, create, version, lease] (a copy of the newest rev record, so current reads
 *            and puts need one lookup, not two), or null when that newest revision is a
 *            tombstone. A deleted key keeps its record (a tombstone marker) until compaction has
 *            removed all of its history, so reads at older revisions still find it. The index key
 *            is the user key itself when it fits (<= indexKeyBytesMax bytes), else its first
 *            indexKeyBytesMax bytes followed by an 8-byte hash of the whole key, with the whole
 *            key kept in the value. Such long keys stay in true order against every other key;
 *            only long keys sharing their first indexKeyBytesMax bytes come out of the table in
 *            hash order, and the scan sorts them.
 * - `keyrev`: the revision history of every key (etcd's keyIndex generations, one entry per
 *            revision): 2-byte big-endian length of the index key, the index key, then the 16-byte
 *            revision key -> 0x01 + 8-byte big-endian create revision of the put's generation, or
 *            0x00 for a tombstone. The length prefix makes one key's entries a contiguous run that
 *            no other key's entries interleave (a bare index key would not: "a" + revision and
 *            "a\x00" + revision overlap), so "the key's revision at rev" is one reverse seek with
 *            limit 1 from (key, rev + 1). Across keys the table is in (length, key) order, which
 *            nothing relies on: key order comes from `index`. At most 2 + indexKeyBytesMax + 8 + 16
 *            bytes, under LMDB's 1978.
 * - `lease`: 8-byte lease id (uint64 big-endian) + index key -> [1]: the keys attached to a lease.
 * - `meta`:  'state' -> current, compacted, appliedIndex, compactTarget (float64 each), a flag
 *            and the compaction cursor (fixed binary layout: it is read by every request).
 *
 * msgpackr returns byte fields as views into the input buffer. Backend bytes are stable (see
 * Backend), so decoded records keep views into them; a short key's index record has no key field
 * and uses the index key it was looked up with, which may be the request's own key bytes.
 */
import { Packr } from 'msgpackr';
import { assert, utf8 } from '../base/index.js';
import type { KeyValue } from './types.js';

export const TABLES = {
  rev: 'mvcc.rev',
  index: 'mvcc.index',
  keyRev: 'mvcc.keyrev',
  lease: 'mvcc.lease',
  leases: 'mvcc.leases',
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

function writeU64(out: Uint8Array, at: number, n: number): void {
  const hi = Math.floor(n / 0x1_0000_0000);
  const lo = n >>> 0;
  out[at] = hi >>> 24;
  out[at + 1] = (hi >>> 16) & 0xff;
  out[at + 2] = (hi >>> 8) & 0xff;
  out[at + 3] = hi & 0xff;
  out[at + 4] = lo >>> 24;
  out[at + 5] = (lo >>> 16) & 0xff;
  out[at + 6] = (lo >>> 8) & 0xff;
  out[at + 7] = lo & 0xff;
}

export function revKey(main: number, sub: number): Uint8Array {
  const out = new Uint8Array(REV_KEY_BYTES);
  writeU64(out, 0, main);
  writeU64(out, 8, sub);
  return out;
}

function readU64(bytes: Uint8Array, at: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, 8);
  const n = view.getUint32(0) * 0x1_0000_0000 + view.getUint32(4);
  assert(Number.isSafeInteger(n), 'a stored revision is a safe integer');
  return n;
}

export function revKeyMain(key: Uint8Array): number {
  assert(key.length === REV_KEY_BYTES, 'revision keys are 16 bytes');
  return readU64(key, 0);
}

// ---- kv records ----

export type StoredKv = KeyValue;

export function encodeKv(kv: KeyValue): Uint8Array {
  return pack([kv.key, kv.value, kv.createRevision, kv.modRevision, kv.version, kv.lease]);
}

export function encodeTombstone(key: Uint8Array): Uint8Array {
  return pack([key]);
}

/** Decodes a rev record: a KeyValue, or `{ key }` alone for a tombstone. */
export function decodeKv(bytes: Uint8Array): KeyValue | { key: Uint8Array; tombstone: true } {
  const a = unpack(bytes) as unknown[];
  assert(Array.isArray(a), 'rev record is an array');
  const key = a[0];
  assert(key instanceof Uint8Array, 'rev record key is bytes');
  if (a.length === 1) return { key, tombstone: true };
  assert(a.length === 6, 'rev record has six fields');
  const [, value, createRevision, modRevision, version, lease] = a;
  assert(value instanceof Uint8Array, 'rev record value is bytes');
  assert(typeof createRevision === 'number', 'create revision is a number');
  assert(typeof modRevision === 'number', 'mod revision is a number');
  assert(typeof version === 'number', 'version is a number');
  assert(typeof lease === 'bigint', 'lease is a bigint');
  return { key, value, createRevision, modRevision, version, lease };
}

// ---- index records ----

export interface IndexRecord {
  /** The whole user key (also when the index key is the key itself). */
  readonly key: Uint8Array;
  /** The key's newest revision: its current put, or the tombstone that deleted it. */
  readonly main: number;
  readonly sub: number;
  /** How many `keyrev` entries the key has (its revisions left after compaction), >= 1. */
  readonly revisions: number;
  /** The current KeyValue (mod revision `main`), undefined when the key is deleted. */
  readonly latest: KeyValue | undefined;
}

export function encodeIndex(record: IndexRecord, long: boolean): Uint8Array {
  const l = record.latest;
  if (l !== undefined) assert(l.modRevision === record.main, 'latest is the newest revision');
  assert(Number.isSafeInteger(record.revisions) && record.revisions >= 1, 'a key has a revision');
  const latest = l === undefined ? null : [l.value, l.createRevision, l.version, l.lease];
  return pack([long ? record.key : null, record.main, record.sub, record.revisions, latest]);
}

export function decodeIndex(indexKey: Uint8Array, bytes: Uint8Array): IndexRecord {
  const a = unpack(bytes) as unknown[];
  assert(Array.isArray(a) && a.length === 5, 'index record has five fields');
  const [full, main, sub, revisions] = a;
  assert(typeof main === 'number' && typeof sub === 'number', 'index revision is numbers');
  assert(typeof revisions === 'number' && revisions >= 1, 'index revision count');
  const key = full === null ? indexKey : full;
  assert(key instanceof Uint8Array, 'index full key is bytes');
  const l = a[4] as unknown[] | null;
  if (l === null) return { key, main, sub, revisions, latest: undefined };
  const [value, createRevision, version, lease] = l;
  assert(value instanceof Uint8Array, 'latest value is bytes');
  assert(typeof createRevision === 'number' && createRevision <= main, 'create revision');
  assert(typeof version === 'number' && typeof lease === 'bigint', 'version and lease');
  return {
    key, main, sub, revisions,
    latest: { key, value, createRevision, modRevision: main, version, lease },
  };
}

// ---- key history ----

const KEY_REV_LENGTH_BYTES = 2;

/** Bytes of a `keyrev` key for an index key of `indexKeyBytes` bytes. */
export function keyRevKeyBytes(indexKeyBytes: number): number {
  return KEY_REV_LENGTH_BYTES + indexKeyBytes + REV_KEY_BYTES;
}

/** The `keyrev` key of (indexKey, main, sub); sub = 0 and main = rev + 1 bounds "at or below rev". */
export function keyRevKey(indexKey: Uint8Array, main: number, sub: number): Uint8Array {
  const n = indexKey.length;
  assert(n >= 1 && n <= 0xffff, 'an index key fits the 2-byte length');
  const out = new Uint8Array(keyRevKeyBytes(n));
  out[0] = n >>> 8;
  out[1] = n & 0xff;
  out.set(indexKey, KEY_REV_LENGTH_BYTES);
  writeU64(out, KEY_REV_LENGTH_BYTES + n, main);
  writeU64(out, KEY_REV_LENGTH_BYTES + n + 8, sub);
  return out;
}

/** The (main, sub) of a `keyrev` key of `indexKey`. */
export function keyRevOf(indexKey: Uint8Array, key: Uint8Array): { main: number; sub: number } {
  const n = indexKey.length;
  assert(key.length === keyRevKeyBytes(n), 'a keyrev key of this index key');
  assert(key[0] === n >>> 8 && key[1] === (n & 0xff), 'a keyrev key has the index key length');
  return { main: readU64(key, KEY_REV_LENGTH_BYTES + n), sub: readU64(key, KEY_REV_LENGTH_BYTES + n + 8) };
}

const KEY_REV_TOMBSTONE = new Uint8Array([0]);

/** A `keyrev` value: the put's generation create revision, or undefined for a tombstone. */
export function encodeKeyRev(created: number | undefined): Uint8Array {
  if (created === undefined) return KEY_REV_TOMBSTONE;
  const out = new Uint8Array(9);
  out[0] = 1;
  writeU64(out, 1, created);
  return out;
}

export function decodeKeyRev(bytes: Uint8Array): number | undefined {
  if (bytes.length === 1) {
    assert(bytes[0] === 0, 'a one-byte keyrev value is a tombstone');
    return undefined;
  }
  assert(bytes.length === 9 && bytes[0] === 1, 'a keyrev put is 0x01 + create revision');
  return readU64(bytes, 1);
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

export function isLongKey(key: Uint8Array, indexKeyBytesMax: number): boolean {
  return key.length > indexKeyBytesMax;
}

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

export const LEASE_MARK = pack([1]);

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

// ---- meta ----

export interface MetaState {
  readonly current: number;
  /** -1 until the first compaction. */
  readonly compacted: number;
  readonly appliedIndex: number;
  /** Revision whose physical compaction is in progress, or -1. */
  readonly compactTarget: number;
  /** Index key after which the next compaction slice starts; null = from the beginning. */
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
  const compactCursor = bytes[32] === 1 ? ownBytes(bytes.subarray(META_FIXED_BYTES, bytes.length))
    : null;
  return { current, compacted, appliedIndex, compactTarget, compactCursor };
}
