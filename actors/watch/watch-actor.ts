/**
 * The watch hub actor: a thin shell over src/watch's WatchHub. The front opens a stream per
 * client Watch call and forwards its requests; apply hands over each committed change list in
 * order; the hub matches, queues and batches; this shell drains ready streams to the front,
 * which writes them out and acknowledges, so a slow client's responses stay bounded in the hub
 * (it falls behind and catches up from history). Client requests the hub cannot take yet (the
 * stream's control backlog is full) wait in a bounded queue per stream.
 */
import { assert, assertNever } from '../../src/base/index.js';
import type { WatchHub } from '../../src/watch/index.js';
import type { Actor, ActorContext, Address } from '../../src/runtime/index.js';
import type { WatchInbox } from './messages.js';

export interface WatchActorOptions {
  readonly hub: WatchHub;
  readonly frontAddress: Address;
  readonly tickMs: number;
  /** Responses sent to the front per stream per message, at most. */
  readonly responsesPerSendMax: number;
  /** Client requests waiting for room in a stream's control backlog, at most. */
  readonly deferredRequestsMax: number;
  /** Told after each committed batch (boot catches the hub's key index up with it). */
  readonly onCommitted?: () => void;
}

type Deferred = Extract<WatchInbox, { type: 'watch.create' | 'watch.cancel' | 'watch.progress' }>;

export class WatchActor implements Actor<WatchInbox> {
  readonly #o: WatchActorOptions;
  readonly #deferred = new Map<number, Deferred[]>();

  constructor(options: WatchActorOptions) {
    assert(options.responsesPerSendMax >= 1, 'responsesPerSendMax must be positive');
    this.#o = options;
  }

  start(ctx: ActorContext<WatchInbox>): void {
    ctx.setTimer(this.#o.tickMs, { type: 'watch.tick' });
  }

  receive(message: WatchInbox, ctx: ActorContext<WatchInbox>): void {
    const hub = this.#o.hub;
    switch (message.type) {
      case 'watch.openStream':
        hub.openStream(message.streamId);
        break;
      case 'watch.closeStream':
        this.#deferred.delete(message.streamId);
        hub.closeStream(message.streamId);
        break;
      case 'watch.create':
      case 'watch.cancel':
      case 'watch.progress':
        this.#request(message);
        break;
      case 'watch.acked':
        hub.acknowledge(message.streamId, message.count);
        this.#retryDeferred(message.streamId);
        break;
      case 'watch.committed':
        for (const change of message.changes) hub.onCommitted(change);
        this.#o.onCommitted?.();
        break;
      case 'watch.tick':
        hub.tick();
        ctx.setTimer(this.#o.tickMs, { type: 'watch.tick' });
        break;
      default:
        assertNever(message, 'watch message');
    }
    this.#flush(ctx);
  }

  #request(m: Deferred): void {
    const queue = this.#deferred.get(m.streamId);
    if (queue !== undefined) {
      assert(queue.length < this.#o.deferredRequestsMax, `stream ${m.streamId} sent too many requests ahead`);
      queue.push(m);
      return;
    }
    if (!this.#apply(m)) this.#deferred.set(m.streamId, [m]);
  }

  /** Hands a request to the hub; false when the stream's control backlog is full. */
  #apply(m: Deferred): boolean {
    const hub = this.#o.hub;
    switch (m.type) {
      case 'watch.create': return hub.createWatch(m.streamId, m.request);
      case 'watch.cancel': return hub.cancelWatch(m.streamId, m.watchId);
      case 'watch.progress': return hub.progressRequest(m.streamId);
      default: return assertNever(m, 'watch request');
    }
  }

  #retryDeferred(streamId: number): void {
    const queue = this.#deferred.get(streamId);
    if (queue === undefined) return;
    while (queue.length > 0 && this.#apply(queue[0]!)) queue.shift();
    if (queue.length === 0) this.#deferred.delete(streamId);
  }

  #flush(ctx: ActorContext<WatchInbox>): void {
    const hub = this.#o.hub;
    for (const streamId of hub.readyStreams()) {
      const responses = hub.drain(streamId, this.#o.responsesPerSendMax);
      if (responses.length > 0) {
        ctx.send(this.#o.frontAddress, { type: 'front.watchResponses', streamId, responses });
      }
    }
  }
}
