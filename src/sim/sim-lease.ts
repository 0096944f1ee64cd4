/**
 * Simulated lease clients and lease safety. Each lease client runs its planned leases one after
 * another through the front, as the gRPC Lease service does: LeaseGrant (a proposal), Puts of a
 * few keys attached to the lease, keepalives to the leader's front (FrontActor.leaseRequest; a
 * follower answers "not leader", so the client looks for the leader as etcd clients do), then
 * either an explicit LeaseRevoke or silence until the lease expires.
 *
 * Lease safety, checked against the replicas' agreed history (each revision stamped with the
 * virtual time a member first applied it):
 * - "Lease Keys Go Together": every key still attached to a lease when it is revoked or expires
 *   is deleted in one revision, and no lease's keys are deleted across two revisions;
 * - "No Early Expiry": a lease's keys never disappear before its TTL has passed since the later
 *   of its grant and its last acknowledged keepalive (both taken at the client's call, the
 *   earliest the leader can have renewed), the TTL shortened by the largest clock drift, unless
 *   the client revoked it first.
 */
import { assert, assertNever, fromUtf8, utf8 } from '../base/index.js';
import type { CommittedBatch } from '../watch/index.js';
import type { Actor, ActorContext } from '../runtime/index.js';
import type { SimCluster, SimMember } from './sim-cluster.js';

export const LEASE_CLIENTS_ADDRESS = 'load/leases';

/** One planned lease: its TTL, how many keys, how many keepalives, how it ends. */
export interface LeaseScript {
  readonly client: number;
  readonly ttlSeconds: number;
  readonly keys: number;
  readonly keepalives: number;
  readonly end: 'revoke' | 'expire';
}

export interface LeaseRecord {
  readonly id: bigint;
  readonly script: LeaseScript;
  grantCallMs: number;
  /** The TTL the grant answered; 0 while unknown (the grant failed or timed out). */
  grantedTtlSeconds: number;
  /** Call times of keepalives answered with a positive TTL. */
  readonly keepaliveCallsMs: number[];
  revokeCallMs: number | null;
}

export type LeaseClientsInbox =
  | { readonly type: 'leases.next'; readonly client: number }
  | { readonly type: 'leases.timeout'; readonly client: number; readonly token: number };

type Step = 'grant' | 'put' | 'keepalive' | 'end' | 'wait';

interface LeaseClient {
  readonly scripts: readonly LeaseScript[];
  next: number;
  current: LeaseRecord | null;
  step: Step;
  keysPut: number;
  keepalivesDone: number;
  token: number;
  busy: boolean;
}

/** Requests of a lease client wait at most this long for an answer. */
const LEASE_REQUEST_TIMEOUT_MS = 1_500;

export class LeaseClients {
  readonly records: LeaseRecord[] = [];
  readonly #clients: LeaseClient[];
  readonly #cluster: SimCluster;
  #nextValue = 1;

  constructor(cluster: SimCluster, scripts: readonly LeaseScript[], clients: number) {
    this.#cluster = cluster;
    this.#clients = Array.from({ length: clients }, (_, c) => ({
      scripts: scripts.filter((s) => s.client === c), next: 0, current: null, step: 'grant',
      keysPut: 0, keepalivesDone: 0, token: 0, busy: false,
    }));
  }

  /** Leases tried, granted (answer seen), keepalives acknowledged, revokes sent. */
  stats(): { readonly leases: number; readonly granted: number; readonly keepalives: number; readonly revoked: number } {
    let granted = 0;
    let keepalives = 0;
    let revoked = 0;
    for (const r of this.records) {
      if (r.grantedTtlSeconds > 0) granted++;
      keepalives += r.keepaliveCallsMs.length;
      if (r.revokeCallMs !== null) revoked++;
    }
    return { leases: this.records.length, granted, keepalives, revoked };
  }

  get done(): boolean {
    return this.#clients.every((c) => c.next >= c.scripts.length && c.current === null && !c.busy);
  }

  start(ctx: ActorContext<LeaseClientsInbox>, delayMs: number): void {
    for (const [i, c] of this.#clients.entries()) if (c.scripts.length > 0) ctx.setTimer(delayMs, { type: 'leases.next', client: i });
  }

  receive(message: LeaseClientsInbox, ctx: ActorContext<LeaseClientsInbox>): void {
    const c = this.#clients[message.client];
    assert(c !== undefined, `lease client ${message.client}`);
    switch (message.type) {
      case 'leases.next':
        this.#advance(message.client, c, ctx);
        return;
      case 'leases.timeout':
        if (c.token === message.token && c.busy) this.#settled(message.client, c, false, ctx);
        return;
      default:
        assertNever(message, 'lease clients message');
    }
  }

  #advance(i: number, c: LeaseClient, ctx: ActorContext<LeaseClientsInbox>): void {
    if (c.current === null) {
      const script = c.scripts[c.next++];
      if (script === undefined) return;
      const id = BigInt(1_000 + i * 1_000 + c.next);
      c.current = { id, script, grantCallMs: 0, grantedTtlSeconds: 0, keepaliveCallsMs: [], revokeCallMs: null };
      this.records.push(c.current);
      c.step = 'grant';
      c.keysPut = 0;
      c.keepalivesDone = 0;
    }
    const r = c.current;
    const m = this.#anyUp(i);
    if (m === null) {
      ctx.setTimer(100, { type: 'leases.next', client: i });
      return;
    }
    const token = ++c.token;
    c.busy = true;
    ctx.setTimer(LEASE_REQUEST_TIMEOUT_MS, { type: 'leases.timeout', client: i, token });
    const done = (ok: boolean): void => {
      if (c.token === token && c.busy) this.#settled(i, c, ok, ctx);
    };
    switch (c.step) {
      case 'grant':
        r.grantCallMs = ctx.now();
        m.front.propose({ kind: 'leaseGrant', id: r.id, ttlSeconds: r.script.ttlSeconds }).then((resp) => {
          if (resp.kind === 'leaseGrant') r.grantedTtlSeconds = resp.ttlSeconds;
          done(resp.kind === 'leaseGrant');
        }, () => done(false));
        return;
      case 'put':
        m.front.propose({
          kind: 'put', req: { key: utf8(`l${r.id}-${c.keysPut}`), value: utf8(`lv${this.#nextValue++}`), lease: r.id },
        }).then(() => done(true), () => done(false));
        return;
      case 'keepalive': {
        const leader = this.#leader() ?? m;
        const callMs = ctx.now();
        leader.front.leaseRequest('renew', r.id).then((a) => {
          if (a.ttlSeconds > 0) r.keepaliveCallsMs.push(callMs);
          done(true);
        }, () => done(false));
        return;
      }
      case 'end':
        if (r.script.end === 'revoke') {
          r.revokeCallMs = ctx.now();
          m.front.propose({ kind: 'leaseRevoke', id: r.id }).then(() => done(true), () => done(false));
        } else {
          done(true);
        }
        return;
      case 'wait':
        done(true);
        return;
    }
  }

  /** One request answered (or failed): move to the next step after a pause. */
  #settled(i: number, c: LeaseClient, ok: boolean, ctx: ActorContext<LeaseClientsInbox>): void {
    c.busy = false;
    c.token++;
    const r = c.current!;
    let pauseMs = 20;
    switch (c.step) {
      case 'grant':
        // A grant whose answer was lost may still apply: the lease is recorded either way, and
        // its keys are put only once the grant is known.
        c.step = ok ? (r.script.keys > 0 ? 'put' : 'keepalive') : 'wait';
        break;
      case 'put':
        c.keysPut++;
        if (c.keysPut >= r.script.keys) c.step = 'keepalive';
        break;
      case 'keepalive':
        c.keepalivesDone++;
        pauseMs = Math.max(50, (r.grantedTtlSeconds * 1_000) / 3);
        if (c.keepalivesDone >= r.script.keepalives) c.step = 'end';
        break;
      case 'end':
      case 'wait':
        // Leave the lease time to expire (or the revoke to apply) before the next one.
        pauseMs = r.script.ttlSeconds * 1_000 + 500;
        c.current = null;
        break;
    }
    if (c.step === 'keepalive' && r.script.keepalives === 0) c.step = 'end';
    ctx.setTimer(pauseMs, { type: 'leases.next', client: i });
  }

  #anyUp(i: number): SimMember | null {
    const ms = this.#cluster.members;
    for (let k = 0; k < ms.length; k++) {
      const m = ms[(i + k) % ms.length]!;
      if (m.up) return m;
    }
    return null;
  }

  #leader(): SimMember | null {
    return this.#cluster.members.find((m) => m.up && m.front.leader === m.id) ?? null;
  }
}

export class LeaseClientsActor implements Actor<LeaseClientsInbox> {
  readonly #clients: LeaseClients;
  readonly #delayMs: number;

  constructor(clients: LeaseClients, delayMs: number) {
    this.#clients = clients;
    this.#delayMs = delayMs;
  }

  start(ctx: ActorContext<LeaseClientsInbox>): void { this.#clients.start(ctx, this.#delayMs); }

  receive(message: LeaseClientsInbox, ctx: ActorContext<LeaseClientsInbox>): void { this.#clients.receive(message, ctx); }
}

/**
 * Lease safety over the agreed history; `firstSeenMs(rev)` is when a member first applied the
 * revision, `drift` the largest clock drift (a leader's fast clock expires leases early).
 */
export function checkLeases(records: readonly LeaseRecord[], batches: readonly CommittedBatch[],
  firstSeenMs: (revision: number) => number, drift: number): { checker: string; detail: string } | null {
  const byId = new Map(records.map((r) => [r.id, r]));
  /** key -> lease it is attached to now, replayed through the history. */
  const attached = new Map<string, bigint>();
  const deletedAt = new Map<bigint, number>();
  for (const b of batches) {
    const deletedHere = new Map<bigint, Set<string>>();
    for (const e of b.events) {
      const key = fromUtf8(e.kv.key);
      const before = attached.get(key);
      if (e.type === 'PUT') {
        if (e.kv.lease !== 0n) attached.set(key, e.kv.lease);
        else attached.delete(key);
        continue;
      }
      attached.delete(key);
      if (before === undefined) continue;
      let set = deletedHere.get(before);
      if (set === undefined) deletedHere.set(before, set = new Set());
      set.add(key);
    }
    for (const [lease, keys] of deletedHere) {
      if (deletedAt.has(lease)) {
        return { checker: 'Lease Keys Go Together', detail: `lease ${lease}: keys deleted at revisions ${deletedAt.get(lease)} and ${b.revision}` };
      }
      deletedAt.set(lease, b.revision);
      const left = [...attached].filter(([, l]) => l === lease).map(([k]) => k);
      if (left.length > 0) {
        return {
          checker: 'Lease Keys Go Together',
          detail: `lease ${lease}: revision ${b.revision} deleted ${[...keys].join(', ')} but left ${left.join(', ')} attached`,
        };
      }
      const r = byId.get(lease);
      if (r === undefined || r.grantedTtlSeconds === 0) continue;
      const at = firstSeenMs(b.revision);
      if (r.revokeCallMs !== null && r.revokeCallMs <= at) continue;
      const base = Math.max(r.grantCallMs, ...r.keepaliveCallsMs);
      const earliest = base + (r.grantedTtlSeconds * 1_000) / (1 + drift);
      if (at < earliest) {
        return {
          checker: 'No Early Expiry',
          detail: `lease ${lease} (TTL ${r.grantedTtlSeconds} s, last acknowledged keepalive called at ${base.toFixed(3)} ms) `
            + `lost its keys at ${at.toFixed(3)} ms (revision ${b.revision}), before ${earliest.toFixed(3)} ms`,
        };
      }
    }
  }
  return null;
}
