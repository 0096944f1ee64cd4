/**
 * Test helpers: a synchronous in-memory network of RawNodes (etcd's `network`), which handles
 * every Ready in the documented order (persist, then send, apply, advance) and delivers messages
 * until the cluster is quiet, with links that can be cut.
 */
import { SeededRng, memberId } from '../../src/base/index.js';
import type { MemberId } from '../../src/base/index.js';
import { MemoryRaftStorage, RawNode } from '../../src/raft/index.js';
import type { Entry, Message, RaftConfig } from '../../src/raft/index.js';

export const id = (n: number): MemberId => memberId(BigInt(n));

export interface TestNode {
  readonly raw: RawNode;
  readonly storage: MemoryRaftStorage;
  readonly applied: Entry[];
  /** ReadIndex answers as "ctx@index". */
  readonly reads: string[];
}

export type ConfigTweak = Partial<Omit<RaftConfig, 'id' | 'storage' | 'rng'>>;

export function newNode(n: number, voters: readonly number[], tweak: ConfigTweak = {}, learners: readonly number[] = []): TestNode {
  const storage = new MemoryRaftStorage({ voters: voters.map(id), learners: learners.map(id) });
  const raw = new RawNode({ id: id(n), storage, rng: new SeededRng(n), electionTicks: 10, heartbeatTicks: 1, ...tweak });
  return { raw, storage, applied: [], reads: [] };
}

export class TestNetwork {
  readonly nodes = new Map<MemberId, TestNode>();
  readonly #cut = new Set<string>();
  /** Every message delivered, for assertions. */
  readonly delivered: Message[] = [];
  filter: ((m: Message) => boolean) | null = null;

  constructor(count: number, tweak: ConfigTweak = {}, learners: readonly number[] = []) {
    const voters = Array.from({ length: count }, (_, i) => i + 1);
    for (const n of voters) this.nodes.set(id(n), newNode(n, voters, tweak, learners));
    for (const n of learners) this.nodes.set(id(n), newNode(n, voters, tweak, learners));
  }

  node(n: number): TestNode {
    const x = this.nodes.get(id(n));
    if (x === undefined) throw new Error(`no node ${n}`);
    return x;
  }

  raw(n: number): RawNode {
    return this.node(n).raw;
  }

  cut(a: number, b: number): void {
    this.#cut.add(`${a}-${b}`);
    this.#cut.add(`${b}-${a}`);
  }

  isolate(a: number): void {
    for (const other of this.nodes.keys()) if (other !== id(a)) this.cut(a, Number(other));
  }

  recover(): void {
    this.#cut.clear();
  }

  /** Handles Readys and delivers messages until nothing is left to do. */
  settle(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      const outbox: Message[] = [];
      let busy = false;
      for (const n of this.nodes.values()) {
        if (!n.raw.hasReady()) continue;
        busy = true;
        const rd = n.raw.ready();
        outbox.push(...rd.messages);
        n.storage.persistSync(rd);
        outbox.push(...rd.messagesAfterPersist);
        for (const e of rd.committedEntries) {
          n.applied.push(e);
          if (e.type === 'confChange') n.raw.raft.applyConfChangeEntry(e);
        }
        for (const r of rd.readStates) n.reads.push(`${new TextDecoder().decode(r.requestCtx)}@${r.index}`);
        n.raw.advance(rd);
      }
      for (const m of outbox) this.deliver(m);
      if (!busy && outbox.length === 0) return;
    }
    throw new Error('network did not settle');
  }

  deliver(m: Message): void {
    if (this.#cut.has(`${m.from}-${m.to}`)) return;
    if (this.filter !== null && !this.filter(m)) return;
    const to = this.nodes.get(m.to);
    if (to === undefined) return;
    this.delivered.push(m);
    to.raw.step(m);
  }

  /** Elects node n: it campaigns and the network settles. */
  elect(n: number): void {
    this.raw(n).campaign();
    this.settle();
  }

  tickAll(ticks: number): void {
    for (let i = 0; i < ticks; i++) {
      for (const n of this.nodes.values()) n.raw.tick();
      this.settle();
    }
  }
}

export const text = (e: Entry): string => new TextDecoder().decode(e.data);
