/**
 * What members say to each other after the hello, as plain data: Raft messages, and the lease
 * questions a follower forwards to the leader with their answers. The wire format and its
 * validation are in node/peer-codec.ts; the peer actor routes these.
 */
import type { MemberId } from '../base/index.js';

/** A lease question forwarded to the leader; `requestId` is the asking member's front's. */
export interface LeaseRequestFrame {
  readonly kind: 'leaseRequest';
  readonly to: MemberId;
  readonly from: MemberId;
  readonly requestId: number;
  readonly op: 'renew' | 'timeToLive';
  readonly leaseId: bigint;
  /** The asker's applied index: the leader answers once its lease actor has seen as much. */
  readonly minApplied: number;
}

/** The leader's answer (the lease actor's LeaseAnswer, flattened). */
export interface LeaseAnswerFrame {
  readonly kind: 'leaseAnswer';
  readonly to: MemberId;
  readonly from: MemberId;
  readonly requestId: number;
  readonly answer:
    | { readonly ok: true; readonly ttlSeconds: number; readonly grantedTtlSeconds: number }
    | { readonly ok: false; readonly code: LeaseAnswerCode };
}

/** The refusals a lease answer may carry. */
export const LEASE_ANSWER_CODES = ['ErrNotPrimary', 'ErrTooManyRequests'] as const;
export type LeaseAnswerCode = (typeof LEASE_ANSWER_CODES)[number];

/** Everything a peer may send after its hello; `M` is the Raft message (src/raft's Message). */
export type PeerFrame<M> = { readonly kind: 'raft'; readonly message: M } | LeaseRequestFrame | LeaseAnswerFrame;
