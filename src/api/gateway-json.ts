/**
 * The JSON gateway's message mapping: protobuf's canonical JSON as etcd's grpc-gateway (v1,
 * golang/protobuf jsonpb with OrigName) reads and writes it, over the same plain shapes the
 * protobuf codecs produce (src/api/codec.ts), so one handler serves both transports.
 *
 * Reading (spec §7.2): a body is validated by a zod schema derived from the vendored protos.
 * Proto field names and their lowerCamelCase aliases are both accepted; unknown fields are
 * ignored; null means absent; 64-bit integers come as decimal strings or numbers; bytes as
 * base64 (standard or URL-safe, padded or not); enums as names or numbers. The result is what
 * `Codec.decode` would give: every scalar present, messages and oneof members only when set,
 * lease/member/cluster IDs bigint, other 64-bit values numbers (src/api/int64.ts).
 *
 * Writing (spec §7.3): proto field names in field-number order, zero values left out, 64-bit
 * integers as decimal strings, bytes as padded standard base64, enums by name.
 *
 * Messages of a malformed body imitate Go's decoder where that is cheap (etcd's clients show
 * them to people, not to code); the status is always InvalidArgument, as etcd's.
 */
import protobuf from 'protobufjs/light.js';
import { z } from 'zod';
import { assert } from '../base/index.js';
import { protoRoot, type Init, type MessageName } from './codec.js';
import { BIGINT_FIELDS } from './int64.js';
import type { MessageTypes } from './types.generated.js';

/** A request body that cannot become the message: etcd answers InvalidArgument with the text. */
export class GatewayJsonError extends Error {
  override readonly name = 'GatewayJsonError';
  readonly grpcCode = 3;
}

export interface JsonCodec<T> {
  readonly typeName: string;
  /** A parsed JSON body -> the message; throws GatewayJsonError when it does not fit. */
  fromJson(value: unknown): T;
  /** The message as a JSON value with etcd's field names and encodings (stringify it as is). */
  toJson(message: Init<T>): Record<string, unknown>;
}

type Scalar = 'bytes' | 'string' | 'bool' | 'enum' | 'int32' | 'uint32' | 'i64num' | 'u64num'
  | 'i64big' | 'u64big' | 'double' | 'message';

interface FieldPlan {
  readonly name: string;
  readonly alias: string;
  readonly kind: Scalar;
  readonly repeated: boolean;
  /** Message fields and oneof members: present only when set. */
  readonly presence: boolean;
  readonly enumType: protobuf.Enum | undefined;
  readonly messageType: protobuf.Type | undefined;
}

interface TypePlan {
  readonly type: protobuf.Type;
  readonly fields: readonly FieldPlan[];
}

const plans = new Map<string, TypePlan>();

/** protoc's json_name: underscores dropped, the letter after each one upper-cased. */
export function jsonAlias(protoName: string): string {
  return protoName.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function kindOf(field: protobuf.Field): Scalar {
  const t = field.resolvedType;
  if (t instanceof protobuf.Type) return 'message';
  if (t instanceof protobuf.Enum) return 'enum';
  const big = BIGINT_FIELDS.has(field.name);
  switch (field.type) {
    case 'bytes': return 'bytes';
    case 'string': return 'string';
    case 'bool': return 'bool';
    case 'int32': case 'sint32': case 'sfixed32': return 'int32';
    case 'uint32': case 'fixed32': return 'uint32';
    case 'int64': case 'sint64': case 'sfixed64': return big ? 'i64big' : 'i64num';
    case 'uint64': case 'fixed64': return big ? 'u64big' : 'u64num';
    case 'double': case 'float': return 'double';
    default: throw new Error(`gateway-json: unsupported field type ${field.type} of ${field.name}`);
  }
}

function planFor(type: protobuf.Type): TypePlan {
  const known = plans.get(type.fullName);
  if (known !== undefined) return known;
  const fields = type.fieldsArray.slice().sort((a, b) => a.id - b.id).map((field): FieldPlan => {
    field.resolve();
    const kind = kindOf(field);
    return {
      name: field.name, alias: jsonAlias(field.name), kind, repeated: field.repeated,
      presence: kind === 'message' || field.partOf !== null,
      enumType: kind === 'enum' ? field.resolvedType as protobuf.Enum : undefined,
      messageType: kind === 'message' ? field.resolvedType as protobuf.Type : undefined,
    };
  });
  const plan = { type, fields };
  plans.set(type.fullName, plan);
  return plan;
}

// ---- reading ----

/** Go's name for a JSON value's kind, as in "cannot unmarshal number into Go value of ...". */
function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v === 'boolean' ? 'bool' : typeof v;
}

const unmarshal = (goType: string) => (issue: { input?: unknown }): string =>
  `json: cannot unmarshal ${jsonKind(issue.input)} into Go value of type ${goType}`;

const BASE64_CHAR = /[A-Za-z0-9+/_-]/;

/** The index of the first byte that makes `s` invalid base64 (any of the four forms), or -1. */
export function base64ErrorIndex(s: string): number {
  let end = s.length;
  while (end > 0 && s[end - 1] === '=') end--;
  for (let i = 0; i < end; i++) if (!BASE64_CHAR.test(s[i] as string)) return i;
  const padding = s.length - end;
  if (end % 4 === 1) return end;
  if (padding > 0 && (padding > 2 || (end + padding) % 4 !== 0)) return end;
  return -1;
}

function decodeBase64(s: string): Uint8Array {
  const b = Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

const INTEGER_TEXT = /^-?(0|[1-9][0-9]*)$/;
const TWO_63 = 1n << 63n;
const TWO_64 = 1n << 64n;

/** A JSON number or decimal string -> bigint, or undefined when it is neither. */
function integerOf(v: number | string): bigint | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : undefined;
  return INTEGER_TEXT.test(v) ? BigInt(v) : undefined;
}

function intSchema(kind: Scalar, goType: string): z.ZodType<number | bigint> {
  const [lo, hi] = kind === 'int32' ? [-(1n << 31n), 1n << 31n]
    : kind === 'uint32' ? [0n, 1n << 32n]
      : kind === 'i64num' || kind === 'i64big' ? [-TWO_63, TWO_63] : [0n, TWO_64];
  return z.union([z.number(), z.string()], { error: unmarshal(goType) })
    .transform((v, ctx) => {
      const n = integerOf(v);
      if (n === undefined || n < lo || n >= hi) {
        ctx.addIssue({ code: 'custom', message: `json: cannot unmarshal ${JSON.stringify(v)} into Go value of type ${goType}` });
        return z.NEVER;
      }
      return kind === 'i64big' || kind === 'u64big' ? n : Number(n);
    });
}

const GO_INT: Partial<Record<Scalar, string>> = {
  int32: 'int32', uint32: 'uint32', i64num: 'int64', u64num: 'uint64', i64big: 'int64',
  u64big: 'uint64',
};

/** Go's name of a nested enum: `etcdserverpb.RangeRequest_SortOrder`. */
function goEnumName(e: protobuf.Enum): string {
  const parts = e.fullName.replace(/^\./, '').split('.');
  const pkg = parts.shift() ?? '';
  return `${pkg}.${parts.join('_')}`;
}

const schemas = new Map<string, z.ZodType<Record<string, unknown>>>();

function scalarSchema(f: FieldPlan): z.ZodType<unknown> {
  switch (f.kind) {
    case 'bytes':
      return z.string({ error: unmarshal('[]uint8') }).transform((s, ctx) => {
        const bad = base64ErrorIndex(s);
        if (bad >= 0) {
          ctx.addIssue({ code: 'custom', message: `illegal base64 data at input byte ${bad}` });
          return z.NEVER;
        }
        return decodeBase64(s);
      });
    case 'string': return z.string({ error: unmarshal('string') });
    case 'bool': return z.boolean({ error: unmarshal('bool') });
    case 'double': return z.number({ error: unmarshal('float64') });
    case 'enum': {
      const e = f.enumType;
      assert(e !== undefined, 'enum field has its enum');
      const name = goEnumName(e);
      return z.union([z.string(), z.number()], { error: unmarshal(name) }).transform((v, ctx) => {
        const n = typeof v === 'string' ? e.values[v] : Number.isInteger(v) ? v : undefined;
        if (n === undefined) {
          ctx.addIssue({ code: 'custom', message: `unknown value ${JSON.stringify(v)} for enum ${name}` });
          return z.NEVER;
        }
        return n;
      });
    }
    case 'message': {
      const t = f.messageType;
      assert(t !== undefined, 'message field has its type');
      return z.lazy(() => messageSchema(t));
    }
    default: return intSchema(f.kind, GO_INT[f.kind] ?? 'int64');
  }
}

function defaultOf(kind: Scalar): unknown {
  switch (kind) {
    case 'bytes': return new Uint8Array(0);
    case 'string': return '';
    case 'bool': return false;
    case 'i64big': case 'u64big': return 0n;
    default: return 0;
  }
}

function messageSchema(type: protobuf.Type): z.ZodType<Record<string, unknown>> {
  const known = schemas.get(type.fullName);
  if (known !== undefined) return known;
  const plan = planFor(type);
  const shape: Record<string, z.ZodType<unknown>> = {};
  for (const f of plan.fields) {
    const one = scalarSchema(f);
    const value = (f.repeated ? z.array(one, { error: unmarshal(`[]${f.kind}`) }) : one).nullish();
    shape[f.name] = value;
    if (f.alias !== f.name) shape[f.alias] = value;
  }
  const schema = z.object(shape, { error: unmarshal('map[string]json.RawMessage') })
    .transform((o) => {
      const out: Record<string, unknown> = {};
      for (const f of plan.fields) {
        const v = o[f.name] ?? o[f.alias];
        if (v !== undefined && v !== null) out[f.name] = v;
        else if (f.repeated) out[f.name] = [];
        else if (!f.presence) out[f.name] = defaultOf(f.kind);
      }
      return out;
    });
  schemas.set(type.fullName, schema);
  return schema;
}

// ---- writing ----

function isZero(v: unknown): boolean {
  return v === 0 || v === 0n || v === false || v === ''
    || (v instanceof Uint8Array && v.length === 0);
}

function base64Of(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function valueToJson(f: FieldPlan, v: unknown): unknown {
  switch (f.kind) {
    case 'bytes': return base64Of(v as Uint8Array);
    case 'i64num': case 'u64num': case 'i64big': case 'u64big':
      return String(v as number | bigint);
    case 'enum': return f.enumType?.valuesById[v as number] ?? v;
    case 'message': {
      assert(f.messageType !== undefined, 'message field has its type');
      return messageToJson(planFor(f.messageType), v as Record<string, unknown>);
    }
    default: return v;
  }
}

function messageToJson(plan: TypePlan, m: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of plan.fields) {
    const v = m[f.name];
    if (v === undefined || v === null) continue;
    if (f.repeated) {
      const list = v as readonly unknown[];
      if (list.length > 0) out[f.name] = list.map((x) => valueToJson(f, x));
    } else if (f.presence || !isZero(v)) {
      out[f.name] = valueToJson(f, v);
    }
  }
  return out;
}

const codecs = new Map<string, JsonCodec<unknown>>();

/** The JSON codec of a message of the vendored protos. */
export function jsonCodecFor<N extends MessageName>(typeName: N): JsonCodec<MessageTypes[N]> {
  const known = codecs.get(typeName);
  if (known !== undefined) return known as JsonCodec<MessageTypes[N]>;
  const type = protoRoot.lookupType(typeName);
  const plan = planFor(type);
  const schema = messageSchema(type);
  const codec: JsonCodec<MessageTypes[N]> = {
    typeName,
    fromJson(value) {
      const r = schema.safeParse(value ?? {});
      if (!r.success) throw new GatewayJsonError(r.error.issues[0]?.message ?? 'invalid body');
      return r.data as unknown as MessageTypes[N];
    },
    toJson(message) {
      return messageToJson(plan, message as unknown as Record<string, unknown>);
    },
  };
  codecs.set(typeName, codec as JsonCodec<unknown>);
  return codec;
}

/** Like `jsonCodecFor`, by a name only known at run time (a gRPC method's request type). */
export function jsonCodecByName(typeName: string): JsonCodec<unknown> {
  assert(protoRoot.lookupType(typeName) instanceof protobuf.Type, `no message ${typeName}`);
  return jsonCodecFor(typeName as MessageName) as JsonCodec<unknown>;
}

/**
 * JSON.parse, except that an integer literal too large for a double (beyond 2^53) is read as
 * its decimal string, so a 64-bit id sent as a bare number (`{"ID": 3720919927140781807}`, as
 * etcd's own tests send it) keeps every bit. The int64 fields accept the string form anyway.
 */
export function parseJsonExact(text: string): unknown {
  let out = '';
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      continue;
    }
    const startsNumber = c === 0x2d || (c >= 0x30 && c <= 0x39);
    if (!startsNumber) continue;
    let j = i + 1;
    while (j < text.length && /[0-9.eE+-]/.test(text[j]!)) j++;
    const literal = text.slice(i, j);
    if (/^-?\d{16,}$/.test(literal) && !Number.isSafeInteger(Number(literal))) {
      out += `${text.slice(from, i)}"${literal}"`;
      from = j;
    }
    i = j - 1;
  }
  return JSON.parse(from === 0 ? text : out + text.slice(from)) as unknown;
}
