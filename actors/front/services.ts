/**
 * etcd's KV, Maintenance and Cluster services as plain handler functions over the front actor and
 * a read view of the MVCC store: wire request in, wire response out, etcd's errors thrown as
 * EtcdError. actors/boot.ts registers them on the gRPC server with their codecs; the handlers
 * know nothing of the transport.
 *
 * Reads: serializable ranges read the local store at once; linearizable ones pass a read barrier
 * first. Writes: validated here (etcd validates in its API layer, and the store validates again
 * when it applies), checked against the space quota, then proposed through raft.
 */
import { EtcdError, type EtcdErrorCode } from '../../src/api/index.js';
import type * as api from '../../src/api/index.js';
import {
  deleteRangeFromWire, deleteRangeToWire, header, putFromWire, putToWire, rangeFromWire,
  rangeToWire, txnFromWire, txnToWire, type AlarmKind,
  currentMembers, encodeMemberContext, readyToAddVoter, readyToRemoveVoter,
} from '../../src/apply/index.js';
import type { MemberId } from '../../src/base/index.js';
import type { ConfChange } from '../../src/raft/index.js';
import {
  MVCC_TABLES, estimateRequestBytes, validateDeleteRange, validatePut, validateRange, validateTxn,
  type MvccError, type MvccStore, type RangeRequest, type Result, type StoredMember, type TxnRequest,
} from '../../src/mvcc/index.js';
import { answerOf, type FrontActor } from './front-actor.js';

/** The host facts the services need, supplied by boot (files, sizes). */
export interface HostFacts {
  /** Bytes the mvcc env occupies on disk. */
  dbSizeBytes(): number;
  /** Bytes of the env in use (pages not on the free list). */
  dbSizeInUseBytes(): number;
  /** A consistent copy of the mvcc env as a byte stream, for Maintenance.Snapshot. */
  snapshot(): AsyncIterable<Uint8Array>;
}

/** What a member tells about itself when it connects (etcd publishes it through Raft). */
export interface MemberAttributes {
  readonly name: string;
  readonly clientUrls: readonly string[];
}

/** The membership facts the Cluster service needs beyond the replicated table (front.members). */
export interface MembershipDeps {
  /** This member's own name and client URLs. */
  readonly self: MemberAttributes;
  /** What member `id` said when it last connected, if it did. */
  attributes(id: bigint): MemberAttributes | undefined;
  /** etcd's --strict-reconfig-check: refuse changes that leave too few started members. */
  readonly strict: boolean;
  /** A new member's id (etcd: SHA-1 of its peer URLs and the time). */
  newId(peerUrls: readonly string[]): bigint;
  /** Whether learner `id` has caught up enough to be promoted (the leader's view). */
  learnerReady(id: bigint): boolean;
}

/**
 * Peer URLs of MemberAdd / MemberUpdate, validated as etcd's types.NewURLs: at least one, each
 * http(s) (or unix) with host:port and no path; else "given member URLs are invalid".
 */
export function peerUrlsOf(raw: readonly string[]): string[] {
  if (raw.length === 0) throw new EtcdError('ErrMemberBadURLs');
  for (const u of raw) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new EtcdError('ErrMemberBadURLs');
    }
    if (!['http:', 'https:', 'unix:', 'unixs:'].includes(url.protocol) || url.port === ''
      || (url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
      throw new EtcdError('ErrMemberBadURLs');
    }
  }
  return [...raw].sort();
}

export interface ServiceDeps {
  readonly front: FrontActor;
  /** The store as this thread reads it (a read-only view of the mvcc env). */
  readonly store: MvccStore;
  readonly host: HostFacts;
  readonly members: MembershipDeps;
  readonly limits: { readonly requestBytesMax: number; readonly txnOpsMax: number; readonly quotaBytes: number };
  /** The version this server reports (etcd's, for clients that compare it). */
  readonly version: string;
  /** Milliseconds, for rate-limiting the quota's size reads. */
  readonly clock: () => number;
}

/** How stale the quota check's view of the db size may be. */
const QUOTA_CHECK_MS = 100;

const ALARMS: readonly (AlarmKind | 'NONE')[] = ['NONE', 'NOSPACE', 'CORRUPT'];

function fail(e: MvccError | { readonly code: string }): never {
  throw new EtcdError(e.code as EtcdErrorCode);
}

function unwrap<T>(r: Result<T>): T {
  if (!r.ok) fail(r);
  return r;
}


function hasNoSpaceAlarm(alarms: readonly { readonly alarm: AlarmKind }[]): boolean {
  for (const a of alarms) if (a.alarm === 'NOSPACE') return true;
  return false;
}

function txnHasPuts(t: TxnRequest): boolean {
  return [...(t.success ?? []), ...(t.failure ?? [])].some((op) => op.requestPut !== undefined
    || (op.requestTxn !== undefined && txnHasPuts(op.requestTxn)));
}

export function services(d: ServiceDeps) {
  const { front, store } = d;
  const hdr = (revision: number): api.ResponseHeader => header(front, revision);

  const proposed = front.proposeAs.bind(front);

  // The size in use costs a stat of every table; writes read it at most every QUOTA_CHECK_MS.
  let inUseBytes = 0;
  let inUseAt = Number.NEGATIVE_INFINITY;
  const inUse = (): number => {
    const now = d.clock();
    if (now - inUseAt >= QUOTA_CHECK_MS) {
      inUseBytes = d.host.dbSizeInUseBytes();
      inUseAt = now;
    }
    return inUseBytes;
  };

  /**
   * etcd's quota check: refuse writes that would grow the db past the quota, raising NOSPACE.
   * Undefined when there is room (the common case costs no promise), else the refusal to await.
   */
  const checkSpace = (requestBytes: number): Promise<never> | undefined => {
    if (hasNoSpaceAlarm(front.alarms)) return Promise.reject(new EtcdError('ErrNoSpace'));
    // The size in use, not the file size: LMDB never shrinks its file but reuses freed pages,
    // which is what etcd's defragment achieves, so compaction really makes room again.
    if (inUse() + requestBytes <= d.limits.quotaBytes) return undefined;
    return front.propose({ kind: 'alarm', action: 'activate', memberId: front.memberId, alarm: 'NOSPACE' })
      .then(() => { throw new EtcdError('ErrNoSpace'); });
  };

  const readRange = (req: RangeRequest): api.RangeResponse => {
    const r = unwrap(store.range(req));
    return rangeToWire(r, hdr(r.header.revision));
  };

  const kv = {
    async range(w: api.RangeRequest): Promise<api.RangeResponse> {
      return kv.rangeUnary(w);
    },
    /**
     * `range` for the gRPC layer, which takes a plain value or a promise and a throw or a
     * rejection alike: a serializable range answers at once, with no promise or microtask.
     */
    rangeUnary(w: api.RangeRequest): api.RangeResponse | Promise<api.RangeResponse> {
      const req = rangeFromWire(w);
      const bad = validateRange(req);
      if (bad !== undefined) fail(bad);
      if (w.serializable) return readRange(req);
      return front.readBarrier().then(() => readRange(req));
    },
    async put(w: api.PutRequest): Promise<api.PutResponse> {
      const req = putFromWire(w);
      const bad = validatePut(req);
      if (bad !== undefined) fail(bad);
      const bytes = estimateRequestBytes({ requestPut: req });
      if (bytes > d.limits.requestBytesMax) throw new EtcdError('ErrRequestTooLarge');
      const full = checkSpace(bytes);
      if (full !== undefined) await full;
      // The hot path: awaits propose itself, one promise fewer than proposeAs.
      const r = answerOf(await front.propose({ kind: 'put', req }), 'put');
      return putToWire(r.response, hdr(r.response.header.revision));
    },
    async deleteRange(w: api.DeleteRangeRequest): Promise<api.DeleteRangeResponse> {
      const req = deleteRangeFromWire(w);
      const bad = validateDeleteRange(req);
      if (bad !== undefined) fail(bad);
      const r = await proposed({ kind: 'deleteRange', req }, 'deleteRange');
      return deleteRangeToWire(r.response, hdr(r.response.header.revision));
    },
    async txn(w: api.TxnRequest): Promise<api.TxnResponse> {
      const req = txnFromWire(w);
      const bad = validateTxn(req, d.limits);
      if (bad !== undefined) fail(bad);
      const bytes = estimateRequestBytes({ requestTxn: req });
      if (bytes > d.limits.requestBytesMax) throw new EtcdError('ErrRequestTooLarge');
      const full = txnHasPuts(req) ? checkSpace(bytes) : undefined;
      if (full !== undefined) await full;
      const r = await proposed({ kind: 'txn', req }, 'txn');
      return txnToWire(r.response, hdr(r.response.header.revision));
    },
    async compact(w: api.CompactionRequest): Promise<api.CompactionResponse> {
      const r = await proposed({ kind: 'compact', req: { revision: w.revision, ...(w.physical && { physical: true }) } }, 'compact');
      return { header: hdr(r.response.header.revision) };
    },
  };

  const alarmMembers = (alarms: readonly { memberId: bigint; alarm: AlarmKind }[]): api.AlarmMember[] =>
    alarms.map((a) => ({ memberID: a.memberId, alarm: ALARMS.indexOf(a.alarm) }));

  const maintenance = {
    async status(): Promise<api.StatusResponse> {
      const revision = store.state().current;
      return {
        header: hdr(revision),
        version: d.version,
        dbSize: d.host.dbSizeBytes(),
        leader: front.leader,
        // The commit index reaches the front at most every 100 ms; it is never below what is applied.
        raftIndex: Math.max(front.commitIndex, front.appliedIndex),
        raftTerm: front.term,
        raftAppliedIndex: front.appliedIndex,
        errors: front.alarms.map((a) => `memberID:${a.memberId} alarm:${a.alarm} `),
        dbSizeInUse: d.host.dbSizeInUseBytes(),
        isLearner: front.isLearner,
        storageVersion: '',
        dbSizeQuota: d.limits.quotaBytes,
      };
    },
    async hash(): Promise<api.HashResponse> {
      const r = store.read((view) => view.hash(MVCC_TABLES));
      return { header: hdr(r.header.revision), hash: r.hash };
    },
    async hashKV(w: api.HashKVRequest): Promise<api.HashKVResponse> {
      const r = unwrap(store.read((view) => view.hashKV(w.revision)));
      return {
        header: hdr(r.header.revision), hash: r.hash, compact_revision: r.compactRevision,
        hash_revision: r.hashRevision,
      };
    },
    async alarm(w: api.AlarmRequest): Promise<api.AlarmResponse> {
      const kind = ALARMS[w.alarm];
      if (w.action === 0 || kind === undefined || kind === 'NONE') {
        // GET (and etcd's answer to an activate/deactivate of NONE): the current alarms.
        const filtered = front.alarms.filter((a) => (w.memberID === 0n || a.memberId === w.memberID)
          && (w.alarm === 0 || a.alarm === kind));
        return { header: hdr(front.revision), alarms: alarmMembers(filtered) };
      }
      const action = w.action === 1 ? 'activate' : 'deactivate';
      const before = front.alarms.filter((a) => a.memberId === w.memberID && a.alarm === kind);
      const r = await proposed({ kind: 'alarm', action, memberId: w.memberID, alarm: kind }, 'alarm');
      const changed = action === 'activate'
        ? r.alarms.filter((a) => a.memberId === w.memberID && a.alarm === kind) : before;
      return { header: hdr(r.revision), alarms: alarmMembers(changed) };
    },
    async defragment(): Promise<api.DefragmentResponse> {
      // LMDB reuses freed pages in place, so there is nothing to rewrite; the call succeeds as etcd's does.
      return { header: hdr(front.revision) };
    },
    async moveLeader(w: api.MoveLeaderRequest): Promise<api.MoveLeaderResponse> {
      if (front.leader !== front.memberId) throw new EtcdError('ErrNotLeader');
      if (!currentMembers(front.members).some((m) => m.id === w.targetID && !m.isLearner)) {
        throw new EtcdError('ErrBadLeaderTransferee');
      }
      await front.moveLeader(w.targetID);
      return { header: hdr(front.revision) };
    },
    async *snapshot(): AsyncGenerator<api.SnapshotResponse> {
      const revision = front.revision;
      for await (const chunk of d.host.snapshot()) {
        yield { header: hdr(revision), remaining_bytes: 0, blob: chunk, version: '' };
      }
    },
  };

  const started = (m: StoredMember): boolean => m.id === front.memberId || m.name !== '' || d.members.attributes(m.id) !== undefined;
  const toWire = (m: StoredMember): api.Member => {
    const a = m.id === front.memberId ? d.members.self : d.members.attributes(m.id);
    return {
      ID: m.id, name: a?.name || m.name, peerURLs: [...m.peerUrls], clientURLs: [...(a?.clientUrls ?? m.clientUrls)],
      isLearner: m.isLearner,
    };
  };
  const memberList = (): api.Member[] => currentMembers(front.members).map(toWire);
  const clusterHeader = (): api.ResponseHeader => ({ ...hdr(0), revision: 0 });
  const current = (id: bigint): StoredMember | undefined => currentMembers(front.members).find((m) => m.id === id);
  const propose = (type: ConfChange['type'], nodeId: bigint, peerUrls: readonly string[], isPromote = false) =>
    front.proposeMemberChange((proposalId) => ({
      type, nodeId: nodeId as MemberId,
      context: encodeMemberContext({ proposalId, origin: front.memberId, peerUrls, name: '', isPromote }),
    }));

  const cluster = {
    async memberList(): Promise<api.MemberListResponse> {
      return { header: clusterHeader(), members: memberList() };
    },
    async memberAdd(w: api.MemberAddRequest): Promise<api.MemberAddResponse> {
      const urls = peerUrlsOf(w.peerURLs);
      if (d.members.strict && !w.isLearner && !readyToAddVoter(front.members, started)) {
        throw new EtcdError('ErrMemberNotEnoughStarted');
      }
      const id = d.members.newId(urls);
      const r = await propose(w.isLearner ? 'addLearner' : 'addNode', id, urls);
      return {
        header: clusterHeader(),
        member: { ID: id, name: '', peerURLs: [...r.member.peerUrls], clientURLs: [], isLearner: w.isLearner },
        members: r.members.map(toWire),
      };
    },
    async memberRemove(w: api.MemberRemoveRequest): Promise<api.MemberRemoveResponse> {
      const m = current(w.ID);
      if (m === undefined) throw new EtcdError('ErrMemberNotFound');
      if (d.members.strict && !m.isLearner && !readyToRemoveVoter(front.members, w.ID, started)) {
        throw new EtcdError('ErrMemberNotEnoughStarted');
      }
      const r = await propose('removeNode', w.ID, []);
      return { header: clusterHeader(), members: r.members.map(toWire) };
    },
    async memberUpdate(w: api.MemberUpdateRequest): Promise<api.MemberUpdateResponse> {
      const urls = peerUrlsOf(w.peerURLs);
      if (current(w.ID) === undefined) throw new EtcdError('ErrMemberNotFound');
      const r = await propose('updateNode', w.ID, urls);
      return { header: clusterHeader(), members: r.members.map(toWire) };
    },
    async memberPromote(w: api.MemberPromoteRequest): Promise<api.MemberPromoteResponse> {
      const m = current(w.ID);
      if (m === undefined) throw new EtcdError('ErrMemberNotFound');
      if (!m.isLearner) throw new EtcdError('ErrMemberNotLearner');
      if (!d.members.learnerReady(w.ID)) throw new EtcdError('ErrLearnerNotReady');
      const r = await propose('addNode', w.ID, m.peerUrls, true);
      return { header: clusterHeader(), members: r.members.map(toWire) };
    },
  };

  return { kv, maintenance, cluster };
}

export type Services = ReturnType<typeof services>;
