/**
 * What travels through Raft: a Proposal is one client write (or a cluster-internal command)
 * with the id its proposer waits on. Every member applies every proposal; only the member named
 * by `origin` has a client waiting for the answer. The bytes are the same on every member, so
 * apply is deterministic.
 *
 * Encoding: the hot commands (put, deleteRange) have a fixed binary layout, written and read
 * without intermediate objects; every other command is msgpack [id, origin, command]
 * (positional, no records). The first byte tells them apart: a msgpack 3-array starts with 0x93.
 *
 *   put:         0x01, id f64 BE, origin u64 BE, flags, [lease i64 BE], key u32-len, value u32-len
 *   deleteRange: 0x02, id f64 BE, origin u64 BE, flags, key u32-len, [rangeEnd u32-len]
 *
 * A flag bit stands for an optional field that is present (booleans: present and true); a
 * command with a boolean field present but false goes as msgpack, so decode(encode(p)) equals p
 * exactly. Decoding checks every length and flag and that the record ends where its last field
 * does: a corrupt entry fails loudly instead of applying something else.
 */
import { Packr } from 'msgpackr';
import { assert, readUint32BE, writeUint32BE } from '../base/index.js';
import type {
  CompactionRequest, DeleteRangeRequest, PutRequest, TxnRequest,
} from '../mvcc/index.js';

export type Command =
  | { readonly kind: 'put'; readonly req: PutRequest }
  | { readonly kind: 'deleteRange'; readonly req: DeleteRangeRequest }
  | { readonly kind: 'txn'; readonly req: TxnRequest }
  | { readonly kind: 'compact'; readonly req: CompactionRequest }
  | { readonly kind: 'alarm'; readonly action: 'activate' | 'deactivate'; readonly memberId: bigint; readonly alarm: AlarmKind }
  /** LeaseGrant: the id is chosen before proposing (client's or the proposer's generator). */
  | { readonly kind: 'leaseGrant'; readonly id: bigint; readonly ttlSeconds: number }
  /** LeaseRevoke from a client, or the leader's expiry of a lease. */
  | { readonly kind: 'leaseRevoke'; readonly id: bigint }
  /** The leader's remaining-TTL checkpoints (etcd LeaseCheckpointRequest). */
  | { readonly kind: 'leaseCheckpoint'; readonly checkpoints: readonly LeaseCheckpointData[] };

export interface LeaseCheckpointData {
  readonly id: bigint;
  readonly remainingTtlSeconds: number;
}

export type AlarmKind = 'NOSPACE' | 'CORRUPT';

export interface Proposal {
  /** Unique per origin member for the life of its log (the front makes it from time + counter). */
  readonly id: number;
  /** The member whose front waits for the answer. */
  readonly origin: bigint;
  readonly command: Command;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'bigint' });

const KINDS = [
  'put', 'deleteRange', 'txn', 'compact', 'alarm', 'leaseGrant', 'leaseRevoke', 'leaseCheckpoint',
] as const;

const MSGPACK_PROPOSAL = 0x93;
const PUT = 0x01;
const DELETE_RANGE = 0x02;
/** Tag, id, origin, flags. */
const HEAD_BYTES = 18;
const PUT_LEASE = 1, PUT_PREV_KV = 2, PUT_IGNORE_VALUE = 4, PUT_IGNORE_LEASE = 8;
const PUT_FLAGS = PUT_LEASE | PUT_PREV_KV | PUT_IGNORE_VALUE | PUT_IGNORE_LEASE;
const DEL_RANGE_END = 1, DEL_PREV_KV = 2;
const DEL_FLAGS = DEL_RANGE_END | DEL_PREV_KV;
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n), I64_MAX = (1n << 63n) - 1n;

/** 8 bytes through which numbers and bigints are written and read big-endian. */
const scratch = new DataView(new ArrayBuffer(8));
const scratchBytes = new Uint8Array(scratch.buffer);

/** A boolean field that the binary layout carries: absent, or present and true. */
const flagOk = (b: boolean | undefined): boolean => b === undefined || b;

export function encodeProposal(p: Proposal): Uint8Array {
  const c = p.command;
  if (c.kind === 'put' && flagOk(c.req.prevKv) && flagOk(c.req.ignoreValue) && flagOk(c.req.ignoreLease)) {
    return encodePut(p, c.req);
  }
  if (c.kind === 'deleteRange' && flagOk(c.req.prevKv)) return encodeDeleteRange(p, c.req);
  // msgpackr returns a view into its shared output buffer; a proposal crosses threads, where a
  // view is cloned with its whole buffer, so it gets exact-size bytes of its own.
  return Uint8Array.prototype.slice.call(packr.pack([p.id, p.origin, p.command]));
}

function encodePut(p: Proposal, req: PutRequest): Uint8Array {
  const flags = (req.lease !== undefined ? PUT_LEASE : 0) | (req.prevKv === true ? PUT_PREV_KV : 0)
    | (req.ignoreValue === true ? PUT_IGNORE_VALUE : 0) | (req.ignoreLease === true ? PUT_IGNORE_LEASE : 0);
  const size = HEAD_BYTES + (req.lease !== undefined ? 8 : 0) + 4 + req.key.length + 4 + req.value.length;
  const out = new Uint8Array(size);
  let at = writeHead(out, PUT, p, flags);
  if (req.lease !== undefined) {
    assert(req.lease >= I64_MIN && req.lease <= I64_MAX, 'put lease is an int64');
    scratch.setBigInt64(0, req.lease);
    out.set(scratchBytes, at);
    at += 8;
  }
  at = writeBytes(out, at, req.key);
  at = writeBytes(out, at, req.value);
  assert(at === size, 'put proposal size');
  return out;
}

function encodeDeleteRange(p: Proposal, req: DeleteRangeRequest): Uint8Array {
  const flags = (req.rangeEnd !== undefined ? DEL_RANGE_END : 0) | (req.prevKv === true ? DEL_PREV_KV : 0);
  const size = HEAD_BYTES + 4 + req.key.length + (req.rangeEnd !== undefined ? 4 + req.rangeEnd.length : 0);
  const out = new Uint8Array(size);
  let at = writeHead(out, DELETE_RANGE, p, flags);
  at = writeBytes(out, at, req.key);
  if (req.rangeEnd !== undefined) at = writeBytes(out, at, req.rangeEnd);
  assert(at === size, 'deleteRange proposal size');
  return out;
}

function writeHead(out: Uint8Array, tag: number, p: Proposal, flags: number): number {
  assert(Number.isSafeInteger(p.id), 'proposal id is a safe integer');
  assert(p.origin >= 0n && p.origin <= U64_MAX, 'proposal origin is a u64 member id');
  out[0] = tag;
  scratch.setFloat64(0, p.id);
  out.set(scratchBytes, 1);
  scratch.setBigUint64(0, p.origin);
  out.set(scratchBytes, 9);
  out[17] = flags;
  return HEAD_BYTES;
}

function writeBytes(out: Uint8Array, at: number, bytes: Uint8Array): number {
  const n = bytes.length;
  writeUint32BE(out, at, n);
  out.set(bytes, at + 4);
  return at + 4 + n;
}

/** Copies the 8 bytes at `at` into the scratch, asserting they are inside the record. */
function toScratch(data: Uint8Array, at: number): void {
  assert(at + 8 <= data.length, 'proposal truncated');
  for (let i = 0; i < 8; i++) scratchBytes[i] = data[at + i]!;
}

/** The length prefix at `at`, asserting that the bytes it announces are inside the record. */
function lengthAt(data: Uint8Array, at: number): number {
  assert(at + 4 <= data.length, 'proposal truncated');
  const n = readUint32BE(data, at);
  assert(at + 4 + n <= data.length, 'proposal field beyond its record');
  return n;
}

function decodeBinary(data: Uint8Array): Proposal {
  assert(data.length >= HEAD_BYTES, `proposal of ${data.length} bytes`);
  toScratch(data, 1);
  const id = scratch.getFloat64(0);
  assert(Number.isSafeInteger(id), 'proposal id is a safe integer');
  toScratch(data, 9);
  const origin = scratch.getBigUint64(0);
  const flags = data[17]!;
  let at = HEAD_BYTES;
  if (data[0] === PUT) {
    assert((flags & ~PUT_FLAGS) === 0, `put flags ${flags}`);
    let lease: bigint | undefined;
    if ((flags & PUT_LEASE) !== 0) {
      toScratch(data, at);
      lease = scratch.getBigInt64(0);
      at += 8;
    }
    const keyLength = lengthAt(data, at);
    const key = data.subarray(at + 4, at + 4 + keyLength);
    at += 4 + keyLength;
    const valueLength = lengthAt(data, at);
    const value = data.subarray(at + 4, at + 4 + valueLength);
    at += 4 + valueLength;
    assert(at === data.length, `proposal has ${data.length - at} bytes after its fields`);
    const req: PutRequest = flags === 0 ? { key, value } : {
      key, value,
      ...(lease !== undefined && { lease }),
      ...((flags & PUT_PREV_KV) !== 0 && { prevKv: true }),
      ...((flags & PUT_IGNORE_VALUE) !== 0 && { ignoreValue: true }),
      ...((flags & PUT_IGNORE_LEASE) !== 0 && { ignoreLease: true }),
    };
    return { id, origin, command: { kind: 'put', req } };
  }
  assert(data[0] === DELETE_RANGE, `unknown proposal format ${data[0]}`);
  assert((flags & ~DEL_FLAGS) === 0, `deleteRange flags ${flags}`);
  const keyLength = lengthAt(data, at);
  const key = data.subarray(at + 4, at + 4 + keyLength);
  at += 4 + keyLength;
  let rangeEnd: Uint8Array | undefined;
  if ((flags & DEL_RANGE_END) !== 0) {
    const n = lengthAt(data, at);
    rangeEnd = data.subarray(at + 4, at + 4 + n);
    at += 4 + n;
  }
  assert(at === data.length, `proposal has ${data.length - at} bytes after its fields`);
  const req: DeleteRangeRequest = flags === 0 ? { key } : {
    key,
    ...(rangeEnd !== undefined && { rangeEnd }),
    ...((flags & DEL_PREV_KV) !== 0 && { prevKv: true }),
  };
  return { id, origin, command: { kind: 'deleteRange', req } };
}

/** Decodes a proposal. Bytes fields are views into `data`, which the entry owns. */
export function decodeProposal(data: Uint8Array): Proposal {
  if (data[0] !== MSGPACK_PROPOSAL) return decodeBinary(data);
  const decoded: unknown = packr.unpack(data);
  assert(Array.isArray(decoded) && decoded.length === 3, 'a proposal is [id, origin, command]');
  const [id, origin, command] = decoded as [unknown, unknown, { kind?: unknown }];
  assert(typeof id === 'number' && Number.isSafeInteger(id), 'proposal id is a safe integer');
  assert(typeof origin === 'bigint', 'proposal origin is a bigint member id');
  assert(typeof command === 'object' && command !== null, 'proposal command is an object');
  assert(KINDS.includes(command.kind as (typeof KINDS)[number]), `known command kind: ${String(command.kind)}`);
  return { id, origin, command: command as Command };
}
