/**
 * Cluster membership as etcd keeps it (etcdserver/api/membership): a table of members, each with
 * an id, peer URLs, a name and client URLs once it has started, and whether it is a learner; and
 * the ids removed, which never come back. Changes travel through Raft as ConfChange entries whose
 * context says what the proposer asked (this module's encoding); every member validates and
 * applies them identically when they commit (etcd's ValidateConfigurationChange, then
 * AddMember/RemoveMember/UpdateRaftAttributes/PromoteMember), and Raft's configuration follows
 * only the changes that passed (a refused one changes nothing, as etcd applies it with NodeID
 * None).
 *
 * Pure: no I/O, no clock. The apply loop stores the table (mvcc `members`) in the batch that
 * applied the change.
 */
import { z } from 'zod';
import { assert, fromUtf8, utf8 } from '../base/index.js';
import type { ConfChange } from '../raft/index.js';
import type { StoredMember } from '../mvcc/index.js';

/** etcd 3.4's maxLearners: at most one learner at a time. */
export const LEARNERS_MAX = 1;

/** What a membership proposal carries besides Raft's type and id (etcd's ConfChange context). */
export interface MemberContext {
  /** The proposer's proposal id and member, so its front can answer the client. */
  readonly proposalId: number;
  readonly origin: bigint;
  /** addNode / addLearner / updateNode: the member's peer URLs. */
  readonly peerUrls: readonly string[];
  /** addNode / addLearner: the member's name when known (initial members), else ''. */
  readonly name: string;
  /** addNode on an existing learner: a promotion (etcd's IsPromote). */
  readonly isPromote: boolean;
}

const contextSchema = z.object({
  proposalId: z.number().int().nonnegative(),
  origin: z.string().regex(/^[0-9a-f]{1,16}$/),
  peerUrls: z.array(z.string().max(1024)).max(64),
  name: z.string().max(1024),
  isPromote: z.boolean(),
}).strict();

export function encodeMemberContext(c: MemberContext): Uint8Array {
  return utf8(JSON.stringify({ ...c, origin: c.origin.toString(16), peerUrls: [...c.peerUrls] }));
}

export function decodeMemberContext(bytes: Uint8Array): MemberContext {
  const parsed = contextSchema.safeParse(JSON.parse(fromUtf8(bytes)));
  assert(parsed.success, 'a membership entry carries a valid context');
  return { ...parsed.data, origin: BigInt(`0x${parsed.data.origin}`) };
}

export type MemberChangeError =
  | 'ErrMemberNotFound' | 'ErrMemberExist' | 'ErrPeerURLExist' | 'ErrMemberNotLearner' | 'ErrTooManyLearners';

/** The current members (removed ones excluded), by id. */
export function currentMembers(table: readonly StoredMember[]): StoredMember[] {
  return table.filter((m) => !m.removed).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function urlTaken(table: readonly StoredMember[], urls: readonly string[], except: bigint): boolean {
  return table.some((m) => !m.removed && m.id !== except && m.peerUrls.some((u) => urls.includes(u)));
}

/** Why `cc` cannot apply to `table`, or null (etcd's ValidateConfigurationChange). */
export function checkMemberChange(
  table: readonly StoredMember[], cc: ConfChange, ctx: MemberContext,
): MemberChangeError | null {
  const rec = table.find((m) => m.id === cc.nodeId);
  if (rec?.removed === true) return 'ErrMemberNotFound'; // etcd: ErrIDRemoved, answered "member not found"
  switch (cc.type) {
    case 'addNode':
      if (ctx.isPromote) {
        if (rec === undefined) return 'ErrMemberNotFound';
        return rec.isLearner ? null : 'ErrMemberNotLearner';
      }
      if (rec !== undefined) return 'ErrMemberExist';
      return urlTaken(table, ctx.peerUrls, cc.nodeId) ? 'ErrPeerURLExist' : null;
    case 'addLearner':
      if (rec !== undefined) return 'ErrMemberExist';
      if (urlTaken(table, ctx.peerUrls, cc.nodeId)) return 'ErrPeerURLExist';
      return currentMembers(table).filter((m) => m.isLearner).length >= LEARNERS_MAX ? 'ErrTooManyLearners' : null;
    case 'removeNode':
      return rec === undefined ? 'ErrMemberNotFound' : null;
    case 'updateNode':
      if (rec === undefined) return 'ErrMemberNotFound';
      return urlTaken(table, ctx.peerUrls, cc.nodeId) ? 'ErrPeerURLExist' : null;
    default: {
      const never: never = cc.type;
      return never;
    }
  }
}

/** The member record `cc` writes (it passed checkMemberChange). */
export function changedMember(table: readonly StoredMember[], cc: ConfChange, ctx: MemberContext): StoredMember {
  const rec = table.find((m) => m.id === cc.nodeId);
  switch (cc.type) {
    case 'addNode':
      if (ctx.isPromote) {
        assert(rec !== undefined, 'a promoted learner exists');
        return { ...rec, isLearner: false };
      }
      return { id: cc.nodeId, name: ctx.name, peerUrls: [...ctx.peerUrls], clientUrls: [], isLearner: false, removed: false };
    case 'addLearner':
      return { id: cc.nodeId, name: ctx.name, peerUrls: [...ctx.peerUrls], clientUrls: [], isLearner: true, removed: false };
    case 'removeNode':
      assert(rec !== undefined, 'a removed member existed');
      return { ...rec, removed: true };
    case 'updateNode':
      assert(rec !== undefined, 'an updated member exists');
      return { ...rec, peerUrls: [...ctx.peerUrls] };
    default: {
      const never: never = cc.type;
      return never;
    }
  }
}

/** `table` with `m` stored in place of its old record (or added). */
export function withMember(table: readonly StoredMember[], m: StoredMember): StoredMember[] {
  const out = table.filter((x) => x.id !== m.id);
  out.push(m);
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Raft's configuration for a table: current voters and learners. */
export function confStateOf(table: readonly StoredMember[]): { voters: bigint[]; learners: bigint[] } {
  const current = currentMembers(table);
  return { voters: current.filter((m) => !m.isLearner).map((m) => m.id), learners: current.filter((m) => m.isLearner).map((m) => m.id) };
}

/**
 * etcd's IsReadyToAddVotingMember (strict reconfiguration check): after adding a voter, the
 * started voters must still make a quorum; a one-member cluster may always grow to two.
 */
export function readyToAddVoter(table: readonly StoredMember[], started: (m: StoredMember) => boolean): boolean {
  const voters = currentMembers(table).filter((m) => !m.isLearner);
  const nstarted = voters.filter(started).length;
  const nmembers = voters.length + 1;
  if (nstarted === 1 && nmembers === 2) return true;
  return nstarted >= Math.floor(nmembers / 2) + 1;
}

/**
 * etcd's IsReadyToRemoveVotingMember: removing voter `id` must leave a quorum of started voters
 * (a learner, or a member not started, may always go).
 */
export function readyToRemoveVoter(
  table: readonly StoredMember[], id: bigint, started: (m: StoredMember) => boolean,
): boolean {
  const voters = currentMembers(table).filter((m) => !m.isLearner);
  const target = voters.find((m) => m.id === id);
  if (target === undefined) return true;
  const left = voters.filter((m) => m.id !== id);
  const nstarted = left.filter(started).length;
  return nstarted >= Math.floor(left.length / 2) + 1;
}
