/**
 * The peer wire format: how Raft messages travel between member processes (peer-transport.ts).
 * Peer bytes are untrusted input, so everything decoded here is validated (zod) before it
 * reaches the Raft core, which asserts on what it is given.
 *
 * A connection carries frames, each a u32 big-endian payload length and a msgpack payload. The
 * dialer's first frame is the hello, `[PEER_PROTOCOL_VERSION, clusterId, from, to, clientUrls,
 * purpose, name, peerUrls]` (the dialer's advertised client URLs and name, which etcd publishes
 * through Raft for the member list, and its advertised peer URLs; purpose 'raft' or 'snapshot'). On a 'raft' connection every later frame is one Raft
 * message, positionally:
 *
 *   [type, to, from, term, logTerm, index, commit, reject, rejectHint, context|nil,
 *    [[term, index, entryType (0 normal, 1 confChange), data], ...]]
 *
 * or one of the two lease frames, which carry a keepalive or time-to-live question from a
 * follower to the leader's lease actor and its answer back (etcd forwards these to the leader):
 *
 *   ['LeaseRequest', to, from, requestId, op ('renew' | 'timeToLive'), leaseId, minApplied]
 *   ['LeaseAnswer', to, from, requestId, ok, ttlSeconds, grantedTtlSeconds, code|nil]
 *
 * A 'snapshot' connection carries one Raft snapshot from the leader to a follower that needs the
 * keyspace (its log was compacted past what the follower has), as etcd streams its db file:
 * `['SnapMeta', index, term, voters, learners, bytes]`, then `['SnapChunk', data]` frames adding
 * up to `bytes`, then `['SnapEnd', sha256]`; the follower answers `['SnapAck', ok, why]`.
 *
 * Member ids go as msgpack 64-bit integers (decoded as bigint, or as a number when small). Only
 * the message types one member sends another are accepted: the local ones (MsgHup, MsgBeat,
 * MsgCheckQuorum, MsgUnreachable, MsgSnapStatus) never cross the wire, and neither does MsgSnap,
 * because snapshot transfer (a copy of the member's env) is not built: a Raft snapshot here
 * carries no data, and restoring one would empty the follower's keyspace.
 */
import { Packr } from 'msgpackr';
import { z } from 'zod';
import type { MemberId } from '../../base/index.js';
import type { Entry, EntryType, Message, MessageType } from '../../raft/index.js';
import { LEASE_ANSWER_CODES } from '../peer-frames.js';
import type { LeaseAnswerFrame, LeaseRequestFrame, PeerFrame } from '../peer-frames.js';


/** Bumped on any change of the frame layout; a peer speaking another version is refused. */
export const PEER_PROTOCOL_VERSION = 2;

/** Bytes of a frame's length prefix. */
export const FRAME_HEADER_BYTES = 4;

/** The message types a member accepts from a peer. */
export const WIRE_MESSAGE_TYPES = [
  'MsgProp', 'MsgApp', 'MsgAppResp', 'MsgVote', 'MsgVoteResp', 'MsgPreVote', 'MsgPreVoteResp',
  'MsgHeartbeat', 'MsgHeartbeatResp', 'MsgTransferLeader', 'MsgTimeoutNow', 'MsgReadIndex',
  'MsgReadIndexResp',
] as const satisfies readonly MessageType[];

const WIRE_TYPES = new Set<MessageType>(WIRE_MESSAGE_TYPES);

/** Whether `type` may be sent to a peer (see the module comment for the ones that may not). */
export function crossesWire(type: MessageType): boolean {
  return WIRE_TYPES.has(type);
}

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', copyBuffers: true });

const U64_MAX = (1n << 64n) - 1n;
const memberId = z.union([z.bigint(), z.number().int().nonnegative()])
  .transform((v) => BigInt(v))
  .refine((v) => v >= 0n && v <= U64_MAX, 'member id out of range')
  .transform((v) => v as MemberId);
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const int64 = z.union([z.bigint(), z.number().int()])
  .transform((v) => BigInt(v))
  .refine((v) => v >= I64_MIN && v <= I64_MAX, 'lease id out of range');
const ttl = z.number().int().min(-1).max(Number.MAX_SAFE_INTEGER);
const bytes = z.instanceof(Uint8Array);
const entryType = z.union([z.literal(0), z.literal(1)]);

/** Client URLs a hello may carry, and the length of each. */
export const HELLO_CLIENT_URLS_MAX = 16;
export const HELLO_URL_BYTES_MAX = 1024;

const helloSchema = z.tuple([
  z.literal(PEER_PROTOCOL_VERSION), memberId, memberId, memberId,
  z.array(z.string().max(HELLO_URL_BYTES_MAX)).max(HELLO_CLIENT_URLS_MAX),
  z.enum(['raft', 'snapshot']),
  z.string().max(HELLO_URL_BYTES_MAX),
  z.array(z.string().max(HELLO_URL_BYTES_MAX)).max(HELLO_CLIENT_URLS_MAX),
]);

export interface Hello {
  readonly clusterId: bigint;
  readonly from: MemberId;
  readonly to: MemberId;
  /** The sender's advertised client URLs. */
  readonly clientUrls: readonly string[];
  /** What the connection carries: Raft traffic, or one snapshot. */
  readonly purpose: 'raft' | 'snapshot';
  /** The sender's name ('' if none) and advertised peer URLs. */
  readonly name: string;
  readonly peerUrls: readonly string[];
}

function frame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** The hello frame, length prefix included. */
export function encodeHello(h: Hello): Buffer {
  return frame(packr.pack([PEER_PROTOCOL_VERSION, h.clusterId, h.from, h.to, h.clientUrls, h.purpose, h.name, h.peerUrls]));
}

/** A hello payload (no prefix), or why it is refused. */
export function decodeHello(payload: Uint8Array): Hello | string {
  const raw = unpack(payload);
  if (typeof raw === 'string') return raw;
  const parsed = helloSchema.safeParse(raw.value);
  if (!parsed.success) return `bad hello: ${z.prettifyError(parsed.error).split('\n')[0] ?? ''}`;
  const [, clusterId, from, to, clientUrls, purpose, name, peerUrls] = parsed.data;
  return { clusterId, from, to, clientUrls, purpose, name, peerUrls };
}

const ENTRY_TYPE_CODE: Readonly<Record<EntryType, 0 | 1>> = { normal: 0, confChange: 1 };
const ENTRY_TYPES: readonly EntryType[] = ['normal', 'confChange'];

/** A message frame, length prefix included. The caller checks crossesWire(m.type) first. */
export function encodeMessage(m: Message): Buffer {
  const entries = m.entries.map((e) => [e.term, e.index, ENTRY_TYPE_CODE[e.type], e.data]);
  return frame(packr.pack([
    m.type, m.to, m.from, m.term, m.logTerm, m.index, m.commit, m.reject, m.rejectHint,
    m.context, entries,
  ]));
}

/** Limits a decoded message must keep. */
export interface MessageLimits {
  /** Entries in one message at most (the sender's Raft caps them the same way). */
  readonly entriesMax: number;
}

function messageSchema(l: MessageLimits) {
  return z.tuple([
    z.enum(WIRE_MESSAGE_TYPES), memberId, memberId, count, count, count, count, z.boolean(), count,
    bytes.nullable(), z.array(z.tuple([count, count, entryType, bytes])).max(l.entriesMax),
  ]);
}

const schemas = new Map<number, ReturnType<typeof messageSchema>>();

/** What a snapshot's first frame says: the Raft snapshot's metadata and the keyspace's size. */
export interface SnapMeta {
  readonly index: number;
  readonly term: number;
  readonly voters: readonly MemberId[];
  readonly learners: readonly MemberId[];
  readonly bytes: number;
}

/** The frames of a snapshot connection after its hello. */
export type SnapFrame =
  | ({ readonly kind: 'meta' } & SnapMeta)
  | { readonly kind: 'chunk'; readonly data: Uint8Array }
  | { readonly kind: 'end'; readonly sha256: Uint8Array }
  | { readonly kind: 'ack'; readonly ok: boolean; readonly why: string };

/** Members a snapshot's membership may list at most. */
export const SNAP_MEMBERS_MAX = 1_000;

export function encodeSnapFrame(f: SnapFrame): Buffer {
  switch (f.kind) {
    case 'meta': return frame(packr.pack(['SnapMeta', f.index, f.term, f.voters, f.learners, f.bytes]));
    case 'chunk': return frame(packr.pack(['SnapChunk', f.data]));
    case 'end': return frame(packr.pack(['SnapEnd', f.sha256]));
    case 'ack': return frame(packr.pack(['SnapAck', f.ok, f.why]));
  }
}

const snapSchema = z.union([
  z.tuple([z.literal('SnapMeta'), count, count, z.array(memberId).max(SNAP_MEMBERS_MAX), z.array(memberId).max(SNAP_MEMBERS_MAX), count]),
  z.tuple([z.literal('SnapChunk'), bytes]),
  z.tuple([z.literal('SnapEnd'), bytes.refine((b) => b.length === 32, 'a SHA-256 is 32 bytes')]),
  z.tuple([z.literal('SnapAck'), z.boolean(), z.string().max(1024)]),
]);

/** A snapshot connection's frame payload (no prefix), or why it is refused. */
export function decodeSnapFrame(payload: Uint8Array): SnapFrame | string {
  const raw = unpack(payload);
  if (typeof raw === 'string') return raw;
  const p = snapSchema.safeParse(raw.value);
  if (!p.success) return `bad snapshot frame: ${z.prettifyError(p.error).split('\n')[0] ?? ''}`;
  const v = p.data;
  switch (v[0]) {
    case 'SnapMeta': return { kind: 'meta', index: v[1], term: v[2], voters: v[3], learners: v[4], bytes: v[5] };
    case 'SnapChunk': return { kind: 'chunk', data: v[1] };
    case 'SnapEnd': return { kind: 'end', sha256: v[1] };
    case 'SnapAck': return { kind: 'ack', ok: v[1], why: v[2] };
  }
}

/** A lease frame, length prefix included. */
export function encodeLeaseFrame(f: LeaseRequestFrame | LeaseAnswerFrame): Buffer {
  if (f.kind === 'leaseRequest') {
    return frame(packr.pack(['LeaseRequest', f.to, f.from, f.requestId, f.op, f.leaseId, f.minApplied]));
  }
  const a = f.answer;
  return frame(packr.pack(a.ok
    ? ['LeaseAnswer', f.to, f.from, f.requestId, true, a.ttlSeconds, a.grantedTtlSeconds, null]
    : ['LeaseAnswer', f.to, f.from, f.requestId, false, 0, 0, a.code]));
}

const leaseRequestSchema = z.tuple([
  z.literal('LeaseRequest'), memberId, memberId, count, z.enum(['renew', 'timeToLive']), int64, count,
]);
const leaseAnswerSchema = z.tuple([
  z.literal('LeaseAnswer'), memberId, memberId, count, z.boolean(), ttl, ttl, z.enum(LEASE_ANSWER_CODES).nullable(),
]);

/** A frame payload after the hello (no prefix), or why it is refused. */
export function decodeFrame(payload: Uint8Array, l: MessageLimits): PeerFrame<Message> | string {
  const raw = unpack(payload);
  if (typeof raw === 'string') return raw;
  const head = Array.isArray(raw.value) ? (raw.value as unknown[])[0] : undefined;
  if (head === 'LeaseRequest') {
    const p = leaseRequestSchema.safeParse(raw.value);
    if (!p.success) return `bad lease request: ${z.prettifyError(p.error).split('\n')[0] ?? ''}`;
    const [, to, from, requestId, op, leaseId, minApplied] = p.data;
    return { kind: 'leaseRequest', to, from, requestId, op, leaseId, minApplied };
  }
  if (head === 'LeaseAnswer') {
    const p = leaseAnswerSchema.safeParse(raw.value);
    if (!p.success) return `bad lease answer: ${z.prettifyError(p.error).split('\n')[0] ?? ''}`;
    const [, to, from, requestId, ok, ttlSeconds, grantedTtlSeconds, code] = p.data;
    if (ok) return { kind: 'leaseAnswer', to, from, requestId, answer: { ok, ttlSeconds, grantedTtlSeconds } };
    if (code === null) return 'bad lease answer: a refusal without its code';
    return { kind: 'leaseAnswer', to, from, requestId, answer: { ok, code } };
  }
  const m = decodeRaft(raw.value, l);
  return typeof m === 'string' ? m : { kind: 'raft', message: m };
}

/** A Raft message payload (no prefix), or why it is refused. */
export function decodeMessage(payload: Uint8Array, l: MessageLimits): Message | string {
  const raw = unpack(payload);
  if (typeof raw === 'string') return raw;
  return decodeRaft(raw.value, l);
}

function decodeRaft(value: unknown, l: MessageLimits): Message | string {
  let schema = schemas.get(l.entriesMax);
  if (schema === undefined) {
    schema = messageSchema(l);
    schemas.set(l.entriesMax, schema);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) return `bad message: ${z.prettifyError(parsed.error).split('\n')[0] ?? ''}`;
  const [type, to, from, term, logTerm, index, commit, reject, rejectHint, context, rawEntries] = parsed.data;
  const entries: Entry[] = rawEntries.map(([t, i, kind, data]) => ({
    term: t, index: i, type: ENTRY_TYPES[kind]!, data,
  }));
  // What the Raft core asserts of an append, checked here so a bad peer cannot stop this member.
  if (type === 'MsgApp') {
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      if (e.index !== index + 1 + k) return `bad message: MsgApp entry ${k} has index ${e.index}, not ${index + 1 + k}`;
      if (e.term > term || e.term < (k === 0 ? logTerm : entries[k - 1]!.term)) {
        return `bad message: MsgApp entry ${e.index} has term ${e.term} out of order`;
      }
    }
  }
  return {
    type, to, from, term, logTerm, index, entries, commit, reject, rejectHint, snapshot: null, context,
  };
}

function unpack(payload: Uint8Array): { readonly value: unknown } | string {
  try {
    return { value: packr.unpack(payload) as unknown };
  } catch (err) {
    return `undecodable frame: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * What a listener tells a member the cluster removed before it closes the connection (etcd
 * answers such a peer 410 Gone): `['Gone']`. The only frame a listener ever writes on a 'raft'
 * connection.
 */
export function encodeGone(): Buffer {
  return frame(packr.pack(['Gone']));
}

/** Whether a payload a listener wrote is the Gone frame. */
export function isGone(payload: Uint8Array): boolean {
  const raw = unpack(payload);
  return typeof raw !== 'string' && Array.isArray(raw.value) && raw.value.length === 1 && raw.value[0] === 'Gone';
}
