/**
 * Test harness for the watch core: a model store that turns operations into committed batches
 * with etcd's KeyValue rules (create revision, version, prev_kv), a MemoryHistory fed from the
 * same batches, a WatchHub, and a WatchRecorder that reads the hub's responses as a client would.
 */
import { assert, toHex, utf8 } from '../../src/base/index.js';
import {
  HistoryModel, MemoryHistory, WatchHub, WatchRecorder, checkResumable, checkWatch,
  deliveredEvents,
} from '../../src/watch/index.js';
import type {
  CommittedBatch, RecordedWatch, WatchCreateRequest, WatchEvent, WatchHubLimits, WatchKeyValue,
  WatchResponse,
} from '../../src/watch/index.js';

export type Op = { put: Uint8Array | string; value?: Uint8Array | string; lease?: bigint }
  | { del: Uint8Array | string };

const bytes = (k: Uint8Array | string): Uint8Array => typeof k === 'string' ? utf8(k) : k;

/** The key-value state and the batches it committed. */
export class ModelStore {
  revision = 0;
  readonly state = new Map<string, WatchKeyValue>();
  readonly batches: CommittedBatch[] = [];
  readonly history = new MemoryHistory(0);

  /** Applies the ops as one write; undefined when nothing changed (no revision is used). */
  commit(ops: readonly Op[]): CommittedBatch | undefined {
    const revision = this.revision + 1;
    const events: WatchEvent[] = [];
    const seen = new Set<string>();
    for (const op of ops) {
      const key = bytes('put' in op ? op.put : op.del);
      const hex = toHex(key);
      assert(!seen.has(hex), 'a write changes a key at most once');
      seen.add(hex);
      const prev = this.state.get(hex);
      if ('put' in op) {
        const kv: WatchKeyValue = {
          key, value: bytes(op.value ?? `v${revision}`), lease: op.lease ?? 0n,
          modRevision: revision, createRevision: prev?.createRevision ?? revision,
          version: (prev?.version ?? 0) + 1,
        };
        this.state.set(hex, kv);
        events.push(prev === undefined ? { type: 'PUT', kv } : { type: 'PUT', kv, prevKv: prev });
      } else if (prev !== undefined) {
        this.state.delete(hex);
        const kv: WatchKeyValue = {
          key, value: new Uint8Array(0), lease: 0n, modRevision: revision, createRevision: 0,
          version: 0,
        };
        events.push({ type: 'DELETE', kv, prevKv: prev });
      }
    }
    if (events.length === 0) return undefined;
    this.revision = revision;
    const batch: CommittedBatch = { revision, events };
    this.batches.push(batch);
    this.history.append(batch);
    return batch;
  }
}

export interface HarnessOptions {
  readonly limits?: Partial<WatchHubLimits>;
  readonly progressIntervalTicks?: number;
}

/** Drives a hub and records what every stream received. */
export class Harness {
  readonly store = new ModelStore();
  readonly hub: WatchHub;
  readonly recorder = new WatchRecorder();
  readonly inFlight = new Map<number, number>();
  readonly resumed: [RecordedWatch, RecordedWatch][] = [];

  constructor(options: HarnessOptions = {}) {
    this.hub = new WatchHub({
      history: this.store.history, currentRevision: 0,
      progressIntervalTicks: options.progressIntervalTicks ?? 10,
      ...(options.limits === undefined ? {} : { limits: options.limits }),
    });
  }

  open(streamId: number): void {
    this.hub.openStream(streamId);
    this.inFlight.set(streamId, 0);
  }

  close(streamId: number): void {
    this.hub.closeStream(streamId);
    this.recorder.closed(streamId);
    this.inFlight.delete(streamId);
  }

  /** Sends a create; undefined when the hub refused it (control backlog full). */
  create(streamId: number, request: WatchCreateRequest): RecordedWatch | undefined {
    if (!this.hub.createWatch(streamId, request)) return undefined;
    return this.recorder.created(streamId, request);
  }

  commit(ops: readonly Op[]): CommittedBatch | undefined {
    const batch = this.store.commit(ops);
    if (batch !== undefined) this.hub.onCommitted(batch);
    return batch;
  }

  /** Drains (and by default acknowledges) a stream's queued responses. */
  drain(streamId: number, max = Number.POSITIVE_INFINITY, ack = true): WatchResponse[] {
    const got = this.hub.drain(streamId, max);
    this.recorder.received(streamId, got);
    this.inFlight.set(streamId, (this.inFlight.get(streamId) ?? 0) + got.length);
    if (ack) this.ack(streamId, this.inFlight.get(streamId)!);
    return got;
  }

  ack(streamId: number, count: number): void {
    const n = this.inFlight.get(streamId) ?? 0;
    assert(count <= n, 'ack more than in flight');
    this.inFlight.set(streamId, n - count);
    this.hub.acknowledge(streamId, count);
  }

  /** Drains and acknowledges everything and ticks until every watcher is synced and idle. */
  settle(roundsMax = 10_000): void {
    for (let round = 0; round < roundsMax; round++) {
      for (const id of [...this.inFlight.keys()]) this.ack(id, this.inFlight.get(id)!);
      for (const id of this.hub.readyStreams()) this.drain(id);
      if (this.hub.stats().unsynced === 0 && this.hub.readyStreams().length === 0) return;
      this.hub.tick();
    }
    assert(false, `hub did not settle in ${roundsMax} rounds`);
  }

  /** Restarts `w` from its last delivered revision + 1 on the same stream. */
  resume(w: RecordedWatch): RecordedWatch | undefined {
    const last = deliveredEvents(w).at(-1)?.kv.modRevision;
    if (last === undefined) return undefined;
    const { watchId: _, ...rest } = w.request;
    const copy = this.create(w.streamId, { ...rest, startRevision: last + 1 });
    if (copy !== undefined) this.resumed.push([w, copy]);
    return copy;
  }

  /** Every named checker over every recorded watcher (after settle). */
  violations(): string[] {
    const model = new HistoryModel(this.store.batches);
    const out = [...this.recorder.violations];
    for (const w of this.recorder.watches) out.push(...checkWatch(w, model, this.store.revision));
    for (const [a, b] of this.resumed) {
      if (a.end !== 'failed' && b.end !== 'failed') out.push(...checkResumable(a, b));
    }
    return out;
  }
}

export function eventIds(responses: readonly WatchResponse[]): string[] {
  return responses.flatMap((r) => r.events.map((e) =>
    `${e.type} ${new TextDecoder().decode(e.kv.key)}@${e.kv.modRevision}`));
}
