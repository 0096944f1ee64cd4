/**
 * The applier: committed Raft entries -> MVCC writes, one backend write transaction per batch of
 * entries, with the applied Raft index stored in the same transaction (so a restart replays the
 * log from exactly there). Every member applies every entry identically; the results name the
 * proposal id and origin so the proposing member's front can answer its client.
 *
 * Physical compaction runs in bounded slices: one slice after each batch while a compaction is
 * pending, and `compactStep` lets an idle apply actor keep slicing. A physical compaction's
 * answer waits until its slices are done, as etcd's `--physical` does.
 */
import { assert, assertNever } from '../base/index.js';
import type {
  WriteResult,
  ChangeSet, CompactionResponse, DeleteRangeResponse, MvccError, MvccStore, MvccWriter,
  PutResponse, Result, TxnResponse,
} from '../mvcc/index.js';
import type { AlarmKind, Command, Proposal } from './proposal.js';
import { decodeProposal } from './proposal.js';
import { Lessor, minLeaseTtlSeconds, writeLeases } from '../lease/index.js';
import type { LeaseErrorCode, LeaseStore } from '../lease/index.js';
import type { LeaseId } from '../base/index.js';
import { decodeConfChange, type ConfChange } from '../raft/index.js';
import type { StoredMember } from '../mvcc/index.js';
import {
  changedMember, checkMemberChange, currentMembers, decodeMemberContext, withMember,
  type MemberChangeError,
} from './membership.js';

/** The part of a Raft entry the applier reads (src/raft's Entry has this shape). */
export interface CommittedEntry {
  readonly index: number;
  readonly type: 'normal' | 'confChange';
  readonly data: Uint8Array;
}

export type CommandResponse =
  | { readonly kind: 'put'; readonly response: PutResponse }
  | { readonly kind: 'deleteRange'; readonly response: DeleteRangeResponse }
  | { readonly kind: 'txn'; readonly response: TxnResponse }
  | { readonly kind: 'compact'; readonly response: CompactionResponse }
  | { readonly kind: 'alarm'; readonly alarms: readonly AlarmMember[]; readonly revision: number }
  | { readonly kind: 'leaseGrant'; readonly id: bigint; readonly ttlSeconds: number; readonly revision: number }
  | { readonly kind: 'leaseRevoke'; readonly revision: number }
  | { readonly kind: 'leaseCheckpoint'; readonly revision: number }
  | { readonly kind: 'member'; readonly member: StoredMember; readonly members: readonly StoredMember[] };

/**
 * A replicated lease change that applied, in log order: what the lease actor's mirror of the
 * lessor replays so its leader-only deadlines track exactly the leases every member holds.
 */
export type LeaseOp =
  | { readonly type: 'grant'; readonly id: bigint; readonly ttlSeconds: number }
  | { readonly type: 'revoke'; readonly id: bigint }
  | { readonly type: 'checkpoint'; readonly id: bigint; readonly remainingTtlSeconds: number };

export interface AlarmMember {
  readonly memberId: bigint;
  readonly alarm: AlarmKind;
}

export interface ApplyResult {
  readonly id: number;
  readonly origin: bigint;
  readonly outcome: CommandResponse | MvccError
    | { readonly ok: false; readonly code: 'ErrNoSpace' | Exclude<LeaseErrorCode, 'ErrNotPrimary' | 'ErrLeaseExpired'> }
    | { readonly ok: false; readonly code: MemberChangeError };
}

export interface AppliedBatch {
  readonly appliedIndex: number;
  readonly revision: number;
  readonly compacted: number;
  readonly results: readonly ApplyResult[];
  readonly changes: readonly ChangeSet[];
  readonly alarms: readonly AlarmMember[];
  /** The lease changes of this batch, in log order (empty when none). */
  readonly leaseOps: readonly LeaseOp[];
  /** The membership changes that passed, in log order, for Raft's configuration (empty when none). */
  readonly confChanges: readonly ConfChange[];
  /** The member table after the batch (removed members included). */
  readonly members: readonly StoredMember[];
  /**
   * Whether a compaction still had slices to do when this batch committed: the apply actor keeps
   * slicing then, without a read transaction per batch to ask the store.
   */
  readonly compacting: boolean;
}

const ALARM_KINDS: readonly AlarmKind[] = ['NOSPACE', 'CORRUPT'];

/** The alarms raised and not disarmed, as `store` holds them (the front starts from these too). */
export function storedAlarms(store: MvccStore): AlarmMember[] {
  return store.read((view) => view.alarmRecords()).map(({ memberId, alarm }) => {
    assert(ALARM_KINDS.includes(alarm as AlarmKind), `stored alarm ${alarm} is known`);
    return { memberId, alarm: alarm as AlarmKind };
  });
}

/** Writes that a NOSPACE alarm refuses (etcd refuses puts, txns with writes; deletes pass). */
function needsSpace(command: Command): boolean {
  switch (command.kind) {
    case 'put': return true;
    case 'txn': return true;
    case 'leaseGrant': return true;
    case 'leaseRevoke':
    case 'leaseCheckpoint':
    case 'deleteRange':
    case 'compact':
    case 'alarm':
      return false;
    default:
      return assertNever(command, 'command');
  }
}

/** The apply-side lessor never leads, so it never reads time. */
const NO_CLOCK = {
  now(): number {
    throw new Error('the apply-side lessor reads no clock');
  },
};

export class Applier {
  readonly #store: MvccStore;
  /**
   * The replicated lease table (grant / revoke / checkpoint, persisted in the same write
   * transaction). Key attachments are not kept in it: the mvcc `lease` table is their one source
   * of truth, written by the same puts and deletes that change the keys.
   */
  readonly lessor: Lessor;
  #alarms: AlarmMember[] = [];
  #members: StoredMember[];
  #leaseOps: LeaseOp[] = [];
  /** Physical compactions waiting for their slices: answered when the slicing ends. */
  #physicalWaiting: ApplyResult[] = [];
  /** Ids of physical compactions applied in the current batch, until the batch is answered. */
  #physicalIds = new Set<number>();

  constructor(store: MvccStore, lessor?: Lessor) {
    this.#store = store;
    this.#alarms = storedAlarms(store);
    this.#members = store.read((view) => view.memberRecords());
    this.lessor = lessor ?? new Lessor({ clock: NO_CLOCK, minTtlSeconds: minLeaseTtlSeconds(10, 100) });
    assert(!this.lessor.isPrimary, 'the apply-side lessor never leads');
    const records = store.read((view) => view.leaseRecords());
    this.lessor.restore(records.map((r) => ({ ...r, id: r.id as LeaseId })));
  }

  get alarms(): readonly AlarmMember[] {
    return this.#alarms;
  }

  /** The member table as applied so far (removed members included). */
  get members(): readonly StoredMember[] {
    return this.#members;
  }

  /**
   * Applies `entries` (consecutive, after the store's applied index) in one write transaction.
   * Entries at or below the applied index (a replay after restart) are skipped.
   */
  async apply(entries: readonly CommittedEntry[]): Promise<AppliedBatch> {
    const staged = this.applyStaged(entries);
    await staged.durable;
    return staged.visible;
  }

  /**
   * `apply` in two steps: `visible` resolves with the batch's results once every reader sees
   * them (when a client may be answered: the Raft log already holds the entries durably),
   * `durable` once the mvcc env has them on disk (when the Raft log below may be compacted).
   */
  applyStaged(entries: readonly CommittedEntry[]): { readonly visible: PromiseLike<AppliedBatch>; readonly durable: PromiseLike<void> } {
    const last = entries[entries.length - 1];
    assert(last !== undefined, 'apply needs at least one entry');
    let appliedIndex = 0;
    const staged = this.#store.writeStaged((w) => {
      // Entries at or below the stored applied index are a replay after a restart: skip them.
      const from = w.meta.appliedIndex;
      appliedIndex = Math.max(from, last.index);
      const fresh = entries.filter((e) => e.index > from);
      const results: ApplyResult[] = [];
      const confChanges: ConfChange[] = [];
      for (const entry of fresh) {
        if (entry.type === 'confChange') {
          this.#confChange(entry, w, results, confChanges);
          continue;
        }
        if (entry.data.length === 0) continue;
        const proposal = decodeProposal(entry.data);
        results.push({ id: proposal.id, origin: proposal.origin, outcome: this.#run(proposal, w) });
      }
      const slicing = w.meta.compactTarget >= 0 ? w.compactSlice() : false;
      // Taken inside the transaction: lmdb-js may run the next batch's callback before this
      // batch's promise resolves, so nothing per batch may wait in the applier's fields.
      const leaseOps = this.#leaseOps;
      this.#leaseOps = [];
      return {
        results, slicing, compacted: w.meta.compacted, leaseOps, alarms: [...this.#alarms], confChanges,
        members: this.#members,
      };
    }, { appliedIndex: (w) => Math.max(w.meta.appliedIndex, last.index) });
    return { visible: staged.visible.then((written) => this.#batchOf(written, appliedIndex)), durable: staged.durable };
  }

  #batchOf(written: WriteResult<{
    results: ApplyResult[]; slicing: boolean; compacted: number;
    leaseOps: AppliedBatch['leaseOps']; alarms: AlarmMember[];
    confChanges: ConfChange[]; members: readonly StoredMember[];
  }>, appliedIndex: number): AppliedBatch {
    const { results, slicing, compacted, leaseOps, alarms, confChanges, members } = written.result;
    const answered = this.#holdPhysical(results, slicing);
    return {
      appliedIndex, revision: written.revision, compacted, results: answered,
      changes: written.changes, alarms, leaseOps, compacting: slicing, confChanges, members,
    };
  }

  /**
   * A membership change: validated against the table as etcd validates it, stored when it passes
   * (and handed on for Raft's configuration), answered either way. An entry without a context
   * (none is written now) changes Raft's configuration alone.
   */
  #confChange(entry: CommittedEntry, w: MvccWriter, results: ApplyResult[], confChanges: ConfChange[]): void {
    const cc = decodeConfChange(entry.data);
    if (cc.context === undefined) {
      confChanges.push(cc);
      return;
    }
    // A joining member takes its table from the leader's snapshot, never from the log (which
    // does not hold the table's first contents): applying a change to no table would split it.
    assert(this.#members.length > 0, 'a membership change applies to a member table');
    const ctx = decodeMemberContext(cc.context);
    const why = checkMemberChange(this.#members, cc, ctx);
    if (why !== null) {
      results.push({ id: ctx.proposalId, origin: ctx.origin, outcome: { ok: false, code: why } });
      return;
    }
    const member = changedMember(this.#members, cc, ctx);
    this.#members = withMember(this.#members, member);
    w.putMemberRecord(member);
    confChanges.push(cc);
    results.push({
      id: ctx.proposalId, origin: ctx.origin,
      outcome: { kind: 'member', member, members: currentMembers(this.#members) },
    });
  }

  /** One more compaction slice outside any batch; returns the physical compactions it finished. */
  compactStep(): PromiseLike<{ readonly more: boolean; readonly results: readonly ApplyResult[] }> {
    // Chained with `then` only (no async/await), so a backend that completes synchronously (the
    // simulator's) keeps the whole step inside its scheduled event.
    const staged = this.#store.writeStaged((w) => (w.meta.compactTarget >= 0 ? w.compactSlice() : false));
    return staged.durable.then(() => staged.visible).then((written) => {
      const more = written.result;
      return { more, results: more ? [] : this.#releasePhysical() };
    });
  }

  /** The applied index of the store (what a restart resumes after). */
  appliedIndex(): number {
    return this.#store.state().appliedIndex;
  }

  /** Whether a compaction still has slices to do. */
  compacting(): boolean {
    return this.#store.state().compactTarget >= 0;
  }

  #holdPhysical(results: ApplyResult[], slicing: boolean): ApplyResult[] {
    const out: ApplyResult[] = [];
    for (const r of results) {
      const physical = 'kind' in r.outcome && r.outcome.kind === 'compact' && this.#physicalIds.has(r.id);
      if (physical && slicing) this.#physicalWaiting.push(r);
      else out.push(r);
      this.#physicalIds.delete(r.id);
    }
    if (!slicing) out.push(...this.#releasePhysical());
    return out;
  }

  #releasePhysical(): ApplyResult[] {
    const done = this.#physicalWaiting;
    this.#physicalWaiting = [];
    return done;
  }

  #run(p: Proposal, w: MvccWriter): ApplyResult['outcome'] {
    const command = p.command;
    if (needsSpace(command) && this.#alarms.some((a) => a.alarm === 'NOSPACE')) {
      // A txn that only reads or deletes still runs under NOSPACE in etcd; writes are refused.
      if (command.kind !== 'txn' || txnWrites(command.req)) return { ok: false, code: 'ErrNoSpace' };
    }
    switch (command.kind) {
      case 'put': return wrap('put', w.put(command.req));
      case 'deleteRange': return wrap('deleteRange', w.deleteRange(command.req));
      case 'txn': return wrap('txn', w.txn(command.req));
      case 'compact': {
        if (command.req.physical === true) this.#physicalIds.add(p.id);
        return wrap('compact', w.compact(command.req));
      }
      case 'alarm': return this.#alarm(command, w);
      case 'leaseGrant': return this.#leaseGrant(command, w);
      case 'leaseRevoke': return this.#leaseRevoke(command.id as LeaseId, w);
      case 'leaseCheckpoint': {
        const store = leaseStoreOf(w);
        for (const cp of command.checkpoints) {
          const writes = this.lessor.checkpoint(cp.id as LeaseId, cp.remainingTtlSeconds);
          if (writes.length === 0) continue; // revoked meanwhile: not an error (etcd)
          writeLeases(store, writes);
          this.#leaseOps.push({ type: 'checkpoint', id: cp.id, remainingTtlSeconds: cp.remainingTtlSeconds });
        }
        return { kind: 'leaseCheckpoint', revision: w.meta.current };
      }
      default: return assertNever(command, 'command');
    }
  }

  #leaseGrant(c: Extract<Command, { kind: 'leaseGrant' }>, w: MvccWriter): ApplyResult['outcome'] {
    const r = this.lessor.grant(c.id as LeaseId, c.ttlSeconds);
    if (!r.ok) return r;
    writeLeases(leaseStoreOf(w), r.writes);
    this.#leaseOps.push({ type: 'grant', id: c.id, ttlSeconds: r.ttlSeconds });
    return { kind: 'leaseGrant', id: c.id, ttlSeconds: r.ttlSeconds, revision: w.meta.current };
  }

  /** The keys go first, as one revision, then the lease (etcd lessor.Revoke). */
  #leaseRevoke(id: LeaseId, w: MvccWriter): ApplyResult['outcome'] {
    const r = this.lessor.revoke(id);
    if (!r.ok) return r;
    assert(r.keys.length === 0, 'the apply-side lessor holds no key attachments');
    w.deleteLeaseKeys(id);
    writeLeases(leaseStoreOf(w), r.writes);
    this.#leaseOps.push({ type: 'revoke', id });
    return { kind: 'leaseRevoke', revision: w.meta.current };
  }

  /** Alarms change in memory and in the batch's transaction alike, so a restart keeps them. */
  #alarm(c: Extract<Command, { kind: 'alarm' }>, w: MvccWriter): CommandResponse {
    const has = this.#alarms.findIndex((a) => a.memberId === c.memberId && a.alarm === c.alarm);
    const alarm = { memberId: c.memberId, alarm: c.alarm };
    if (c.action === 'activate' && has < 0) {
      this.#alarms.push(alarm);
      w.putAlarmRecord(alarm);
    }
    if (c.action === 'deactivate' && has >= 0) {
      this.#alarms.splice(has, 1);
      w.deleteAlarmRecord(alarm);
    }
    return { kind: 'alarm', alarms: [...this.#alarms], revision: w.meta.current };
  }
}

/** The lease records as the lease core writes them, inside this batch's transaction. */
function leaseStoreOf(w: MvccWriter): LeaseStore {
  return {
    load: () => w.leaseRecords().map((r) => ({ ...r, id: r.id as LeaseId })),
    put: (record) => w.putLeaseRecord(record),
    delete: (id) => w.deleteLeaseRecord(id),
  };
}

function txnWrites(req: import('../mvcc/index.js').TxnRequest): boolean {
  const ops = [...(req.success ?? []), ...(req.failure ?? [])];
  return ops.some((op) => op.requestPut !== undefined
    || (op.requestTxn !== undefined && txnWrites(op.requestTxn)));
}

function wrap<K extends 'put' | 'deleteRange' | 'txn' | 'compact'>(
  kind: K, r: Result<Extract<CommandResponse, { kind: K }>['response']>,
): CommandResponse | MvccError {
  if (!r.ok) return r;
  const { ok: _ok, ...response } = r;
  return { kind, response } as unknown as CommandResponse;
}
