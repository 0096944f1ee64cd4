/**
 * What travels through Raft: a Proposal is one client write (or a cluster-internal command)
 * with the id its proposer waits on. Every member applies every proposal; only the member named
 * by `origin` has a client waiting for the answer. Encoded with msgpackr (positional, no
 * records), the same bytes on every member, so apply is deterministic.
 */
import { Packr } from 'msgpackr';
import { assert } from '../base/index.js';
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

export function encodeProposal(p: Proposal): Uint8Array {
  return packr.pack([p.id, p.origin, p.command]);
}

/** Decodes a proposal. Bytes fields are views into `data`, which the entry owns. */
export function decodeProposal(data: Uint8Array): Proposal {
  const decoded: unknown = packr.unpack(data);
  assert(Array.isArray(decoded) && decoded.length === 3, 'a proposal is [id, origin, command]');
  const [id, origin, command] = decoded as [unknown, unknown, { kind?: unknown }];
  assert(typeof id === 'number' && Number.isSafeInteger(id), 'proposal id is a safe integer');
  assert(typeof origin === 'bigint', 'proposal origin is a bigint member id');
  assert(typeof command === 'object' && command !== null, 'proposal command is an object');
  assert(KINDS.includes(command.kind as (typeof KINDS)[number]), `known command kind: ${String(command.kind)}`);
  return { id, origin, command: command as Command };
}
