/**
 * The few etcd messages the load generator sends and reads, encoded by hand. A benchmark client
 * must spend as little CPU per request as it can (on two cores it shares the machine with the
 * server), so requests are built straight into their gRPC frame (5-byte prefix included) and
 * responses are not decoded at all except where the bench needs a field: a lease ID, a watch's
 * created flag, and the values of watch events (they carry the time of their put).
 * Field numbers are those of etcd's rpc.proto / kv.proto; test/bench/wire.test.ts checks the
 * bytes against protobufjs reading etcd3's copy of rpc.proto.
 */
import { assert } from '../../base/index.js';

/** Largest message the bench builds or reads (etcd's default request limit is 1.5 MiB). */
export const MESSAGE_BYTES_MAX = 8 * 1024 * 1024;

const LEN = 2;
const VARINT = 0;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

class FrameWriter {
  readonly buf: Buffer;
  pos = 5;
  constructor(size: number) {
    assert(size <= MESSAGE_BYTES_MAX, `message of ${size} bytes exceeds MESSAGE_BYTES_MAX`);
    this.buf = Buffer.allocUnsafe(size + 5);
    this.buf[0] = 0;
    this.buf.writeUInt32BE(size, 1);
  }
  varint(n: number): this {
    assert(Number.isSafeInteger(n) && n >= 0, `varint must be a non-negative safe integer: ${n}`);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
    return this;
  }
  tag(field: number, wire: number): this { return this.varint(field * 8 + wire); }
  bytes(field: number, b: Uint8Array): this {
    this.tag(field, LEN).varint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  raw(b: Uint8Array): this {
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  done(): Buffer {
    assert(this.pos === this.buf.length, `frame size: wrote ${this.pos} of ${this.buf.length}`);
    return this.buf;
  }
}

function lenField(field: number, size: number): number {
  return varintSize(field * 8) + varintSize(size) + size;
}

/** Size of a bytes field, 0 when empty (proto3 leaves it out). */
function bytesField(field: number, b: Uint8Array | undefined): number {
  return b === undefined || b.length === 0 ? 0 : lenField(field, b.length);
}

function putBody(key: Uint8Array, value: Uint8Array, lease: Uint8Array | undefined): number {
  return bytesField(1, key) + bytesField(2, value) + (lease === undefined ? 0 : 1 + lease.length);
}

function writePut(w: FrameWriter, key: Uint8Array, value: Uint8Array, lease?: Uint8Array): void {
  if (key.length > 0) w.bytes(1, key);
  if (value.length > 0) w.bytes(2, value);
  if (lease !== undefined) w.tag(3, VARINT).raw(lease);
}

/** PutRequest{key, value[, lease]}; `lease` is the raw varint of a lease ID (see LeaseGrant). */
export function putFrame(key: Uint8Array, value: Uint8Array, lease?: Uint8Array): Buffer {
  const w = new FrameWriter(putBody(key, value, lease));
  writePut(w, key, value, lease);
  return w.done();
}

/** RangeRequest{key[, range_end][, serializable]}. */
export function rangeFrame(key: Uint8Array, rangeEnd: Uint8Array | undefined,
  serializable: boolean): Buffer {
  const w = new FrameWriter(bytesField(1, key) + bytesField(2, rangeEnd) + (serializable ? 2 : 0));
  if (key.length > 0) w.bytes(1, key);
  if (rangeEnd !== undefined && rangeEnd.length > 0) w.bytes(2, rangeEnd);
  if (serializable) w.tag(7, VARINT).varint(1);
  return w.done();
}

/** DeleteRangeRequest{key[, range_end]}. */
export function deleteFrame(key: Uint8Array, rangeEnd?: Uint8Array): Buffer {
  const w = new FrameWriter(bytesField(1, key) + bytesField(2, rangeEnd));
  if (key.length > 0) w.bytes(1, key);
  if (rangeEnd !== undefined && rangeEnd.length > 0) w.bytes(2, rangeEnd);
  return w.done();
}

/** TxnRequest with no compares and one RequestOp{request_put} per (key, value) in success. */
export function txnPutFrame(puts: readonly { key: Uint8Array; value: Uint8Array }[]): Buffer {
  let size = 0;
  const opSizes: number[] = [];
  for (const p of puts) {
    const put = putBody(p.key, p.value, undefined);
    const op = lenField(2, put); // RequestOp.request_put = 2
    opSizes.push(put);
    size += lenField(2, op); // TxnRequest.success = 2
  }
  const w = new FrameWriter(size);
  puts.forEach((p, i) => {
    const put = opSizes[i] ?? 0;
    w.tag(2, LEN).varint(lenField(2, put)).tag(2, LEN).varint(put);
    writePut(w, p.key, p.value);
  });
  return w.done();
}

/** LeaseGrantRequest{TTL}. */
export function leaseGrantFrame(ttlSeconds: number): Buffer {
  return new FrameWriter(1 + varintSize(ttlSeconds)).tag(1, VARINT).varint(ttlSeconds).done();
}

/** LeaseKeepAliveRequest{ID}, from the raw varint bytes of the ID. */
export function leaseKeepAliveFrame(idVarint: Uint8Array): Buffer {
  return new FrameWriter(1 + idVarint.length).tag(1, VARINT).raw(idVarint).done();
}

/** WatchRequest{create_request{key, range_end}}. */
export function watchCreateFrame(key: Uint8Array, rangeEnd: Uint8Array): Buffer {
  const create = bytesField(1, key) + bytesField(2, rangeEnd);
  const w = new FrameWriter(lenField(1, create));
  w.tag(1, LEN).varint(create);
  if (key.length > 0) w.bytes(1, key);
  if (rangeEnd.length > 0) w.bytes(2, rangeEnd);
  return w.done();
}

// ---- reading -----------------------------------------------------------------------------------

/** A field-by-field reader over one message; `end` bounds the message inside `buf`. */
export class FieldReader {
  pos: number;
  field = 0;
  wire = 0;
  constructor(readonly buf: Uint8Array, start: number, readonly end: number) {
    assert(end <= buf.length && start <= end, 'reader bounds inside the buffer');
    this.pos = start;
  }
  /** Advances to the next field tag; false at the end of the message. */
  next(): boolean {
    if (this.pos >= this.end) return false;
    const tag = this.varint();
    this.field = Math.floor(tag / 8);
    this.wire = tag & 7;
    return true;
  }
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new RangeError('truncated varint');
      const b = this.buf[this.pos++] ?? 0;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    throw new RangeError('varint longer than 10 bytes');
  }
  /** The raw bytes of the varint at the cursor (a 64-bit ID kept without conversion). */
  varintBytes(): Uint8Array {
    const start = this.pos;
    this.varint();
    return this.buf.slice(start, this.pos);
  }
  /** Start and end of the length-delimited field at the cursor; moves past it. */
  len(): [number, number] {
    const n = this.varint();
    const start = this.pos;
    if (start + n > this.end) throw new RangeError('length-delimited field past the message end');
    this.pos = start + n;
    return [start, this.pos];
  }
  skip(): void {
    switch (this.wire) {
      case VARINT: this.varint(); return;
      case 1: this.pos += 8; return;
      case LEN: this.len(); return;
      case 5: this.pos += 4; return;
      default: throw new RangeError(`unsupported wire type ${this.wire}`);
    }
  }
}

/** LeaseGrantResponse: the raw varint bytes of its ID, and its error string if any. */
export function readLeaseGrant(msg: Uint8Array): { id: Uint8Array | undefined; error: string } {
  const r = new FieldReader(msg, 0, msg.length);
  let id: Uint8Array | undefined;
  let error = '';
  while (r.next()) {
    if (r.field === 2 && r.wire === VARINT) id = r.varintBytes();
    else if (r.field === 4 && r.wire === LEN) {
      const [s, e] = r.len();
      error = Buffer.from(msg.buffer, msg.byteOffset + s, e - s).toString('utf8');
    } else r.skip();
  }
  return { id, error };
}

/** LeaseKeepAliveResponse: its TTL (0 or less means the lease is gone). */
export function readKeepAliveTtl(msg: Uint8Array): number {
  const r = new FieldReader(msg, 0, msg.length);
  let ttl = 0;
  while (r.next()) {
    if (r.field === 3 && r.wire === VARINT) ttl = r.varint();
    else r.skip();
  }
  return ttl;
}

export interface WatchResponseSummary {
  created: boolean;
  canceled: boolean;
  events: number;
}

/**
 * Reads a WatchResponse, calling `onValue(buf, start, end)` for the value of each event's kv;
 * the views are only valid during the call.
 */
export function readWatchResponse(msg: Uint8Array,
  onValue: (buf: Uint8Array, start: number, end: number) => void): WatchResponseSummary {
  const r = new FieldReader(msg, 0, msg.length);
  const out: WatchResponseSummary = { created: false, canceled: false, events: 0 };
  while (r.next()) {
    if (r.field === 3 && r.wire === VARINT) out.created = r.varint() !== 0;
    else if (r.field === 4 && r.wire === VARINT) out.canceled = r.varint() !== 0;
    else if (r.field === 11 && r.wire === LEN) {
      const [s, e] = r.len();
      out.events++;
      readEventValue(msg, s, e, onValue);
    } else r.skip();
  }
  return out;
}

function readEventValue(msg: Uint8Array, start: number, end: number,
  onValue: (buf: Uint8Array, start: number, end: number) => void): void {
  const ev = new FieldReader(msg, start, end);
  while (ev.next()) {
    if (ev.field !== 2 || ev.wire !== LEN) {
      ev.skip();
      continue;
    }
    const [ks, ke] = ev.len();
    const kv = new FieldReader(msg, ks, ke);
    while (kv.next()) {
      if (kv.field === 5 && kv.wire === LEN) {
        const [vs, ve] = kv.len();
        onValue(msg, vs, ve);
      } else kv.skip();
    }
  }
}
