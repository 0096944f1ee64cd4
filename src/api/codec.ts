/**
 * Message codecs for the etcd protocol: protobufjs reflection over the vendored descriptor
 * (src/api/proto.generated.ts), converted to and from strata's plain shapes
 * (src/api/types.generated.ts) by a per-type plan compiled once.
 *
 * Decoded messages: every scalar is present (proto3 default when absent on the wire), message and
 * oneof fields only when set, bytes fields are Uint8Array views into the input buffer (see
 * `Codec.decode`), 64-bit fields follow src/api/int64.ts (IDs bigint, the rest number). Unknown
 * fields are skipped, packed and unpacked repeated fields are both accepted.
 *
 * Encoded messages are canonical as Go writes them: zero scalars and empty lists are left out
 * (oneof members excepted, their presence is meaningful), fields in ascending number order. The
 * hot messages have hand-written codecs (src/api/hot-codecs.ts) that produce the same bytes.
 */
import protobuf from 'protobufjs/light.js';
import { assert } from '../base/index.js';
import { BIGINT_FIELDS, assertWireInteger, bigintToBits, int64BitsToBigint, int64BitsToNumber,
  uint64BitsToBigint, uint64BitsToNumber } from './int64.js';
import { protoDescriptor } from './proto.generated.js';
import type { MessageTypes } from './types.generated.js';

/** What an encoder accepts: any field may be left out (or undefined) and means its default. */
export type Init<T> = T extends Uint8Array | string | number | bigint | boolean ? T
  : T extends readonly (infer U)[] ? readonly Init<U>[]
  : { [K in keyof T]?: Init<T[K]> | undefined };

export interface Codec<T> {
  /** Full protobuf name, e.g. `etcdserverpb.PutRequest`. */
  readonly typeName: string;
  /** Encodes canonically; throws AssertionError on a non-integer or out-of-range 64-bit value. */
  encode(message: Init<T>): Uint8Array;
  /**
   * `encode`, behind gRPC's 5-byte message prefix (flag 0 = uncompressed, big-endian length),
   * in one buffer: what a gRPC server writes, without a second allocation and copy.
   */
  encodeFramed(message: Init<T>): Uint8Array;
  /**
   * Decodes; throws (a plain Error or RangeError, never AssertionError) on malformed input.
   * Bytes fields are views into `bytes`: they may be kept as long as `bytes` is never reused,
   * which holds for every buffer the gRPC server hands over.
   */
  decode(bytes: Uint8Array): T;
}

export type MessageName = keyof MessageTypes;

export const protoRoot: protobuf.Root = protobuf.Root.fromJSON(
  protoDescriptor as unknown as protobuf.INamespace,
);

type Kind = 'plain' | 'bytes' | 'i64num' | 'u64num' | 'i64big' | 'u64big' | 'message';

interface FieldPlan {
  readonly name: string;
  readonly kind: Kind;
  readonly repeated: boolean;
  /** Message fields and oneof members: present only when set. */
  readonly presence: boolean;
  /** Filled after construction so recursive types (TxnRequest in RequestOp) resolve. */
  sub: TypePlan | undefined;
}

interface TypePlan {
  readonly type: protobuf.Type;
  readonly fields: FieldPlan[];
}

const plans = new Map<string, TypePlan>();

function planFor(type: protobuf.Type): TypePlan {
  const known = plans.get(type.fullName);
  if (known !== undefined) return known;
  const plan: TypePlan = { type, fields: [] };
  plans.set(type.fullName, plan);
  for (const field of type.fieldsArray.slice().sort((a, b) => a.id - b.id)) {
    field.resolve();
    const isMessage = field.resolvedType instanceof protobuf.Type;
    const kind = kindOf(field, isMessage);
    plan.fields.push({
      name: field.name,
      kind,
      repeated: field.repeated,
      presence: isMessage || field.partOf !== null,
      sub: undefined,
    });
    if (isMessage) {
      const fp = plan.fields[plan.fields.length - 1];
      assert(fp !== undefined, 'field plan just pushed');
      fp.sub = planFor(field.resolvedType as protobuf.Type);
    }
  }
  return plan;
}

function kindOf(field: protobuf.Field, isMessage: boolean): Kind {
  if (isMessage) return 'message';
  if (field.type === 'bytes') return 'bytes';
  const big = BIGINT_FIELDS.has(field.name);
  switch (field.type) {
    case 'int64': case 'sint64': case 'sfixed64': return big ? 'i64big' : 'i64num';
    case 'uint64': case 'fixed64': return big ? 'u64big' : 'u64num';
    default: return 'plain';
  }
}

interface LongLike { low: number; high: number }

function fromWire(kind: Kind, v: unknown, plan: FieldPlan): unknown {
  switch (kind) {
    case 'plain': return v;
    case 'bytes': return v instanceof Uint8Array ? v : new Uint8Array(0);
    case 'i64num': return typeof v === 'number' ? v : int64BitsToNumber((v as LongLike).low,
      (v as LongLike).high);
    case 'u64num': return typeof v === 'number' ? v : uint64BitsToNumber((v as LongLike).low,
      (v as LongLike).high);
    case 'i64big': return typeof v === 'number' ? BigInt(v) : int64BitsToBigint(
      (v as LongLike).low, (v as LongLike).high);
    case 'u64big': return typeof v === 'number' ? BigInt(v) : uint64BitsToBigint(
      (v as LongLike).low, (v as LongLike).high);
    case 'message': {
      assert(plan.sub !== undefined, 'message field has a plan');
      return toPlain(plan.sub, v as Record<string, unknown>);
    }
  }
}

function toPlain(plan: TypePlan, m: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of plan.fields) {
    if (f.presence && !Object.prototype.hasOwnProperty.call(m, f.name)) continue;
    const v = m[f.name];
    if (f.repeated) {
      const list = (v ?? []) as unknown[];
      out[f.name] = list.map((x) => fromWire(f.kind, x, f));
    } else if (v === null || v === undefined) {
      if (!f.presence) out[f.name] = fromWire(f.kind, v, f);
    } else {
      out[f.name] = fromWire(f.kind, v, f);
    }
  }
  return out;
}

function isDefault(v: unknown): boolean {
  return v === 0 || v === 0n || v === false || v === ''
    || (v instanceof Uint8Array && v.length === 0);
}

function toWireValue(f: FieldPlan, v: unknown): unknown {
  switch (f.kind) {
    case 'plain': case 'bytes': return v;
    case 'i64num':
      assertWireInteger(v as number, f.name);
      return v;
    case 'u64num':
      assertWireInteger(v as number, f.name);
      assert((v as number) >= 0, `${f.name} is uint64, got ${v as number}`);
      return v;
    case 'i64big': case 'u64big': return bigintToBits(v as bigint);
    case 'message': {
      assert(f.sub !== undefined, 'message field has a plan');
      return toWire(f.sub, v as Record<string, unknown>);
    }
  }
}

function toWire(plan: TypePlan, m: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of plan.fields) {
    const v = m[f.name];
    if (v === undefined || v === null) continue;
    if (f.repeated) {
      const list = v as unknown[];
      if (list.length > 0) out[f.name] = list.map((x) => toWireValue(f, x));
    } else if (f.presence || !isDefault(v)) {
      out[f.name] = toWireValue(f, v);
    }
  }
  return out;
}

// ---- one writer for every encode --------------------------------------------------------------

/** gRPC's message prefix: a compression flag byte and a 4-byte big-endian length. */
export const GRPC_PREFIX_BYTES = 5;

/** A shared writer whose buffer grew past this is dropped after use rather than kept. */
const WRITER_KEEP_BYTES_MAX = 64 * 1024;

/**
 * Every encode writes into one reused Writer and copies the result out once (finish), instead
 * of a new Writer and its first buffer per message. Encoding is synchronous and never re-enters
 * itself, so one writer is enough; an encode that threw leaves `writerBusy` set and the next
 * takes a fresh writer.
 */
let writer: protobuf.Writer = protobuf.Writer.create();
let writerBusy = false;

/** The shared writer, empty; with `framed` its first 5 bytes are the gRPC prefix's place. */
export function takeWriter(framed: boolean): protobuf.Writer {
  if (writerBusy || writer.buf.length > WRITER_KEEP_BYTES_MAX) writer = protobuf.Writer.create();
  assert(writer.states === null || writer.states.length === 0, 'a finished writer has no forks');
  writer.pos = 0;
  writerBusy = true;
  // Placeholder for the prefix: a zero flag byte (uint32 0) and four length bytes (fixed32).
  if (framed) writer.uint32(0).fixed32(0);
  return writer;
}

/** A copy of what was written since `takeWriter`, with the gRPC prefix filled in if framed. */
export function finishWriter(w: protobuf.Writer, framed: boolean): Uint8Array {
  assert(w === writer && writerBusy, 'finishing the writer taken');
  const out = w.finish();
  writerBusy = false;
  if (framed) {
    const length = out.length - GRPC_PREFIX_BYTES;
    out[0] = 0;
    out[1] = length >>> 24;
    out[2] = (length >>> 16) & 0xff;
    out[3] = (length >>> 8) & 0xff;
    out[4] = length & 0xff;
  }
  return out;
}

/** A codec by reflection for any message of the vendored protos. */
export function reflectCodec<N extends MessageName>(typeName: N): Codec<MessageTypes[N]> {
  const type = protoRoot.lookupType(typeName);
  const plan = planFor(type);
  const encodeAs = (message: unknown, framed: boolean): Uint8Array => {
    const wire = toWire(plan, message as Record<string, unknown>);
    const w = takeWriter(framed);
    type.encode(wire, w);
    return finishWriter(w, framed);
  };
  return {
    typeName,
    encode: (message) => encodeAs(message, false),
    encodeFramed: (message) => encodeAs(message, true),
    decode(bytes) {
      const m = type.decode(bytes) as unknown as Record<string, unknown>;
      return toPlain(plan, m) as unknown as MessageTypes[N];
    },
  };
}
