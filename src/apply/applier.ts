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
  ChangeSet, CompactionResponse, DeleteRangeResponse, MvccError, MvccStore, MvccWriter,
  PutResponse, Result, TxnResponse,
} from '../mvcc/index.js';
import type { AlarmKind, Command, Proposal } from './proposal.js';
import { decodeProposal } from './proposal.js';

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
  | { readonly kind: 'alarm'; readonly alarms: readonly AlarmMember[]; readonly revision: number };

export interface AlarmMember {
  readonly memberId: bigint;
  readonly alarm: AlarmKind;
}

export interface ApplyResult {
  readonly id: number;
  readonly origin: bigint;
  readonly outcome: CommandResponse | MvccError | { readonly ok: false; readonly code: 'ErrNoSpace' };
}

export interface AppliedBatch {
  readonly appliedIndex: number;
  readonly revision: number;
  readonly compacted: number;
  readonly results: readonly ApplyResult[];
  readonly changes: readonly ChangeSet[];
  readonly alarms: readonly AlarmMember[];
}

/** Writes that a NOSPACE alarm refuses (etcd refuses puts, txns with writes; deletes pass). */
function needsSpace(command: Command): boolean {
  switch (command.kind) {
    case 'put': return true;
    case 'txn': return true;
    case 'deleteRange':
    case 'compact':
    case 'alarm':
      return false;
    default:
      return assertNever(command, 'command');
  }
}

export class Applier {
  readonly #store: MvccStore;
  #alarms: AlarmMember[] = [];
  /** Physical compactions waiting for their slices: answered when the slicing ends. */
  #physicalWaiting: ApplyResult[] = [];

  constructor(store: MvccStore, alarms: readonly AlarmMember[] = []) {
    this.#store = store;
    this.#alarms = [...alarms];
  }

  get alarms(): readonly AlarmMember[] {
    return this.#alarms;
  }

  /**
   * Applies `entries` (consecutive, after the store's applied index) in one write transaction.
   * Entries at or below the applied index (a replay after restart) are skipped.
   */
  async apply(entries: readonly CommittedEntry[]): Promise<AppliedBatch> {
    const from = this.#store.state().appliedIndex;
    const fresh = entries.filter((e) => e.index > from);
    const last = entries[entries.length - 1];
    assert(last !== undefined, 'apply needs at least one entry');
    const appliedIndex = Math.max(from, last.index);
    const written = await this.#store.write((w) => {
      const results: ApplyResult[] = [];
      for (const entry of fresh) {
        if (entry.type !== 'normal' || entry.data.length === 0) continue;
        const proposal = decodeProposal(entry.data);
        results.push({ id: proposal.id, origin: proposal.origin, outcome: this.#run(proposal, w) });
      }
      const slicing = w.meta.compactTarget >= 0 ? w.compactSlice() : false;
      return { results, slicing, compacted: w.meta.compacted };
    }, { appliedIndex });
    const { results, slicing, compacted } = written.result;
    const answered = this.#holdPhysical(results, slicing);
    return {
      appliedIndex, revision: written.revision, compacted, results: answered,
      changes: written.changes, alarms: this.#alarms,
    };
  }

  /** One more compaction slice outside any batch; returns the physical compactions it finished. */
  async compactStep(): Promise<{ readonly more: boolean; readonly results: readonly ApplyResult[] }> {
    const written = await this.#store.write((w) => (w.meta.compactTarget >= 0 ? w.compactSlice() : false));
    const more = written.result;
    return { more, results: more ? [] : this.#releasePhysical() };
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

  #physicalIds = new Set<number>();

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
      case 'alarm': return this.#alarm(command, w.meta.current);
      default: return assertNever(command, 'command');
    }
  }

  #alarm(c: Extract<Command, { kind: 'alarm' }>, revision: number): CommandResponse {
    const has = this.#alarms.findIndex((a) => a.memberId === c.memberId && a.alarm === c.alarm);
    if (c.action === 'activate' && has < 0) this.#alarms.push({ memberId: c.memberId, alarm: c.alarm });
    if (c.action === 'deactivate' && has >= 0) this.#alarms.splice(has, 1);
    return { kind: 'alarm', alarms: [...this.#alarms], revision };
  }
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
