/**
 * The simulated network between members: one router actor (`net/router`) through which every
 * Raft message passes (each raft actor's peer map points at it). The host already gives every
 * send a seeded latency; the router adds the faults a seed turns on: loss, duplication, extra
 * delay (which reorders, since delayed messages overtake nothing but are overtaken), and
 * partitions (a set of blocked directed links, checked when a message enters and again when it
 * leaves, so a partition that starts mid-flight cuts it). The nemesis changes the partition
 * between deliveries; the router never reads anything but its own state and its own rng.
 */
import { assert, assertNever } from '../base/index.js';
import type { Message as RaftMessage } from '../raft/index.js';
import type { Actor, ActorContext, Address } from '../runtime/index.js';

export const NET_ADDRESS: Address = 'net/router';

/** Per-message fault rates; 0 turns a fault off. */
export interface NetworkFaultRates {
  readonly loss: number;
  readonly duplicate: number;
  /** Chance a message waits an extra delay in (0, delayMaxMs]. */
  readonly delay: number;
  readonly delayMaxMs: number;
}

export const NO_NETWORK_FAULTS: NetworkFaultRates = { loss: 0, duplicate: 0, delay: 0, delayMaxMs: 0 };

export type NetInbox =
  | { readonly type: 'raft.step'; readonly message: RaftMessage }
  | { readonly type: 'net.deliver'; readonly message: RaftMessage };

export interface NetworkStats {
  routed: number;
  lost: number;
  blocked: number;
  duplicated: number;
  delayed: number;
}

/** Shared state of the simulated network: routes, fault rates (switched by the nemesis), cuts. */
export class SimNetwork {
  readonly #routes = new Map<bigint, { readonly member: string; readonly raft: Address }>();
  readonly #blocked = new Set<string>();
  rates: NetworkFaultRates = NO_NETWORK_FAULTS;
  readonly stats: NetworkStats = { routed: 0, lost: 0, blocked: 0, duplicated: 0, delayed: 0 };

  addMember(id: bigint, member: string, raft: Address): void {
    assert(!this.#routes.has(id), `member ${id} routed twice`);
    this.#routes.set(id, { member, raft });
  }

  routeOf(id: bigint): { readonly member: string; readonly raft: Address } {
    const r = this.#routes.get(id);
    assert(r !== undefined, `no route to member ${id}`);
    return r;
  }

  /** Blocks messages from `from` to `to` (member names). */
  block(from: string, to: string): void {
    this.#blocked.add(`${from}>${to}`);
  }

  healAll(): void {
    this.#blocked.clear();
  }

  isBlocked(from: bigint, to: bigint): boolean {
    if (this.#blocked.size === 0) return false;
    return this.#blocked.has(`${this.routeOf(from).member}>${this.routeOf(to).member}`);
  }
}

export class NetActor implements Actor<NetInbox> {
  readonly #net: SimNetwork;

  constructor(net: SimNetwork) {
    this.#net = net;
  }

  receive(message: NetInbox, ctx: ActorContext<NetInbox>): void {
    const net = this.#net;
    switch (message.type) {
      case 'raft.step': {
        const m = message.message;
        const rates = net.rates;
        if (net.isBlocked(m.from, m.to)) {
          net.stats.blocked++;
          return;
        }
        if (rates.loss > 0 && ctx.rng.chance(rates.loss)) {
          net.stats.lost++;
          return;
        }
        // A forwarded proposal is never duplicated: Raft tolerates duplicates of every message
        // but MsgProp, whose copy is appended as a second entry and applied twice (etcd-raft
        // leaves deduplicating proposals to the application; strata's applier does not, and its
        // peer transport is to be TCP, which never duplicates). Seed 2482 found it.
        const copies = rates.duplicate > 0 && m.type !== 'MsgProp' && ctx.rng.chance(rates.duplicate) ? 2 : 1;
        if (copies === 2) net.stats.duplicated++;
        for (let i = 0; i < copies; i++) {
          if (rates.delay > 0 && ctx.rng.chance(rates.delay)) {
            net.stats.delayed++;
            ctx.setTimer(ctx.rng.float() * rates.delayMaxMs, { type: 'net.deliver', message: m });
          } else {
            this.#deliver(m, ctx);
          }
        }
        return;
      }
      case 'net.deliver':
        this.#deliver(message.message, ctx);
        return;
      default:
        assertNever(message, 'net message');
    }
  }

  #deliver(m: RaftMessage, ctx: ActorContext<NetInbox>): void {
    if (this.#net.isBlocked(m.from, m.to)) {
      this.#net.stats.blocked++;
      return;
    }
    this.#net.stats.routed++;
    ctx.send(this.#net.routeOf(m.to).raft, { type: 'raft.step', message: m });
  }
}
