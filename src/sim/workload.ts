/**
 * Simulated clients: each runs its planned operations one at a time (closed loop, with think
 * time), against one member's front through the same request path the gRPC services use: writes
 * and Txns are proposals (FrontActor.propose), a linearizable Range waits on the front's read
 * barrier (ReadIndex) then reads that member's store, a serializable Range reads the store at
 * once. Every operation is recorded with its real-time interval for the checkers; a write whose
 * answer never came (timeout, crash of its member) is recorded with an unknown outcome.
 *
 * The front answers with Promises; their callbacks are single `then`s on the front's own promise,
 * which the runner drains after each delivery, so they run at the virtual instant of the delivery
 * that settled them.
 */
import { assert, assertNever, fromUtf8, utf8 } from '../base/index.js';
import type { Command, CommandResponse } from '../apply/index.js';
import type { Compare, KeyValue } from '../mvcc/index.js';
import type { Actor, ActorContext } from '../runtime/index.js';
import type { KvHistoryOp, KvOp, KvOutput } from './linearizability.js';
import type { SimCluster, SimMember } from './sim-cluster.js';
import type { Mutations, PlanOp, PlannedOp } from './sim-plan.js';

export const CLIENTS_ADDRESS = 'load/clients';

/** Clients connect this long after the cluster starts (once a first leader can exist). */
export const CLIENT_WARMUP_MS = 300;

/** A serializable read: checked against the replicas' agreed history at its revision. */
export interface SerializableRead {
  readonly id: number;
  readonly client: number;
  readonly member: string;
  readonly key: string;
  readonly value: string | null;
  readonly revision: number;
}

export type ClientsInbox =
  | { readonly type: 'load.next'; readonly client: number }
  | { readonly type: 'load.timeout'; readonly client: number; readonly token: number };

interface ClientState {
  readonly ops: readonly PlannedOp[];
  next: number;
  member: number;
  /** The operation in flight; its completion is ignored once the token moved on. */
  token: number;
  inFlight: { readonly op: PlanOp; readonly callMs: number; readonly expect: string | null } | null;
  /** The last value this client saw for each key (what its Txn compares against). */
  readonly seen: Map<string, string | null>;
}

export interface WorkloadCounts {
  ok: number;
  failed: number;
  unknown: number;
}

export class Workload {
  readonly history: KvHistoryOp[] = [];
  readonly serializableReads: SerializableRead[] = [];
  readonly counts: WorkloadCounts = { ok: 0, failed: 0, unknown: 0 };
  readonly #clients: ClientState[];
  readonly #cluster: SimCluster;
  readonly #mutations: Mutations;
  readonly #timeoutMs: number;
  #nextId = 1;

  constructor(cluster: SimCluster, ops: readonly PlannedOp[], clients: number, mutations: Mutations, timeoutMs: number) {
    this.#cluster = cluster;
    this.#mutations = mutations;
    this.#timeoutMs = timeoutMs;
    this.#clients = Array.from({ length: clients }, (_, c) => ({
      ops: ops.filter((o) => o.client === c), next: 0, member: c % cluster.members.length, token: 0,
      inFlight: null, seen: new Map(),
    }));
  }

  get done(): boolean {
    return this.#clients.every((c) => c.next >= c.ops.length && c.inFlight === null);
  }

  start(ctx: ActorContext<ClientsInbox>): void {
    for (const [i, c] of this.#clients.entries()) this.#schedule(i, c, ctx, CLIENT_WARMUP_MS);
  }

  receive(message: ClientsInbox, ctx: ActorContext<ClientsInbox>): void {
    const c = this.#clients[message.client];
    assert(c !== undefined, `client ${message.client}`);
    switch (message.type) {
      case 'load.next':
        this.#issue(message.client, c, ctx);
        return;
      case 'load.timeout':
        if (c.token !== message.token || c.inFlight === null) return;
        this.#finish(message.client, c, null, ctx);
        return;
      default:
        assertNever(message, 'clients message');
    }
  }

  #schedule(i: number, c: ClientState, ctx: ActorContext<ClientsInbox>, extraMs = 0): void {
    const planned = c.ops[c.next];
    if (planned === undefined) return;
    ctx.setTimer(extraMs + planned.thinkMs, { type: 'load.next', client: i });
  }

  /** The client's member, or the next one that is up (a client reconnects elsewhere). */
  #memberFor(c: ClientState): SimMember | null {
    const ms = this.#cluster.members;
    for (let k = 0; k < ms.length; k++) {
      const m = ms[(c.member + k) % ms.length]!;
      if (m.up) {
        c.member = (c.member + k) % ms.length;
        return m;
      }
    }
    return null;
  }

  #issue(i: number, c: ClientState, ctx: ActorContext<ClientsInbox>): void {
    const planned = c.ops[c.next++];
    assert(planned !== undefined && c.inFlight === null, 'one operation in flight per client');
    const op = planned.op;
    const token = ++c.token;
    const callMs = ctx.now();
    const expect = op.kind === 'cas' ? c.seen.get(op.key) ?? null : null;
    c.inFlight = { op, callMs, expect };
    const m = this.#memberFor(c);
    if (m === null) {
      this.#finish(i, c, 'failed', ctx);
      return;
    }
    ctx.setTimer(this.#timeoutMs, { type: 'load.timeout', client: i, token });
    const settle = (out: KvOutput | 'failed' | null): void => {
      if (c.token === token && c.inFlight !== null) this.#finish(i, c, out, ctx);
    };
    const failed = (): void => {
      // A refused or timed-out request: try another member next time.
      c.member = (c.member + 1) % this.#cluster.members.length;
      settle(op.kind === 'get' || op.kind === 'compact' ? 'failed' : null);
    };
    switch (op.kind) {
      case 'get': {
        const read = (): void => settle({ kind: 'get', value: this.#read(i, m, op.key, op.serializable) });
        if (op.serializable || this.#mutations.staleReads) read();
        else m.front.readBarrier().then(read, failed);
        return;
      }
      case 'compact': {
        const rev = m.front.revision - 5;
        if (rev < 1) {
          settle('failed');
          return;
        }
        m.front.propose({ kind: 'compact', req: { revision: rev } }).then(() => settle('failed'), failed);
        return;
      }
      default:
        m.front.propose(commandOf(op, expect)).then((r) => settle(outputOf(op, r)), failed);
    }
  }

  #read(client: number, m: SimMember, key: string, serializable: boolean): string | null {
    const r = m.store.range({ key: utf8(key) });
    assert(r.ok, `range of ${key} failed`);
    const kv: KeyValue | undefined = r.kvs[0];
    const value = kv === undefined ? null : fromUtf8(kv.value);
    if (serializable) {
      this.serializableReads.push({
        id: this.#nextId++, client, member: m.name, key, value, revision: r.header.revision,
      });
    }
    return value;
  }

  /** `out`: the observed output, 'failed' (no effect, not recorded), null (outcome unknown). */
  #finish(i: number, c: ClientState, out: KvOutput | 'failed' | null, ctx: ActorContext<ClientsInbox>): void {
    const f = c.inFlight;
    assert(f !== null, 'an operation is in flight');
    c.inFlight = null;
    c.token++;
    const op = f.op;
    if (out === 'failed') this.counts.failed++;
    else if (out === null) this.counts.unknown++;
    else this.counts.ok++;
    const isSerializable = op.kind === 'get' && op.serializable;
    if (out !== 'failed' && op.kind !== 'compact' && !isSerializable) {
      const kvOp: KvOp = op.kind === 'cas' ? { kind: 'cas', key: op.key, expect: f.expect, value: op.value }
        : op.kind === 'get' ? { kind: 'get', key: op.key } : op;
      this.history.push({
        id: this.#nextId++, client: i, op: kvOp, callMs: f.callMs,
        returnMs: out === null ? Infinity : ctx.now(), output: out,
      });
      if (out !== null) learn(c.seen, kvOp, out);
    }
    this.#schedule(i, c, ctx);
  }
}

function learn(seen: Map<string, string | null>, op: KvOp, out: KvOutput): void {
  switch (out.kind) {
    case 'get': seen.set(op.key, out.value); return;
    case 'put': if (op.kind === 'put') seen.set(op.key, op.value); return;
    case 'delete': seen.set(op.key, null); return;
    case 'cas': if (out.succeeded && op.kind === 'cas') seen.set(op.key, op.value); return;
  }
}

function commandOf(op: Exclude<PlanOp, { kind: 'get' | 'compact' }>, expect: string | null): Command {
  const key = utf8(op.key);
  switch (op.kind) {
    case 'put': return { kind: 'put', req: { key, value: utf8(op.value) } };
    case 'delete': return { kind: 'deleteRange', req: { key } };
    case 'cas': {
      const compare: Compare = expect === null
        ? { result: 'EQUAL', target: 'VERSION', key, version: 0 }
        : { result: 'EQUAL', target: 'VALUE', key, value: utf8(expect) };
      return { kind: 'txn', req: { compare: [compare], success: [{ requestPut: { key, value: utf8(op.value) } }], failure: [] } };
    }
  }
}

function outputOf(op: PlanOp, r: CommandResponse): KvOutput {
  switch (r.kind) {
    case 'put': return { kind: 'put' };
    case 'deleteRange': return { kind: 'delete', deleted: r.response.deleted };
    case 'txn': return { kind: 'cas', succeeded: r.response.succeeded };
    default: assert(false, `a ${op.kind} answered ${r.kind}`);
  }
}

/** The clients as an actor: their think-time timers and timeouts go through the host. */
export class ClientsActor implements Actor<ClientsInbox> {
  readonly #w: Workload;

  constructor(w: Workload) {
    this.#w = w;
  }

  start(ctx: ActorContext<ClientsInbox>): void { this.#w.start(ctx); }

  receive(message: ClientsInbox, ctx: ActorContext<ClientsInbox>): void { this.#w.receive(message, ctx); }
}
