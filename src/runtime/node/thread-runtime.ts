/**
 * One thread's share of the thread host: the actors placed on this thread, a single run queue
 * for them, one outbox per other thread, and the shared mailbox-depth table.
 *
 * - Local sends go into the run queue (one FIFO for all local actors: per-link order holds and
 *   nothing is allocated per message). The queue is drained synchronously, at most
 *   `deliveriesPerTurnMax` messages per event-loop turn, then the drain yields with setImmediate.
 * - Cross-thread sends are appended to the target thread's outbox as flat `[slot, message, ...]`
 *   pairs and posted as one structured-clone array, or at once when the batch reaches its
 *   maximum. A worker flushes from a microtask: its messages arrive in batches, and what it sends
 *   in answer leaves at once. The main thread flushes once its event-loop turn's I/O callbacks
 *   are done (setImmediate): it sends from one callback per socket read, so a microtask flush
 *   posted about one message per client request; measured with put at 64 clients, the later
 *   flush cut server CPU per put by about 4%. Each pair of threads has its own MessageChannel,
 *   so nothing is routed through the main thread.
 * - Mailbox depth lives in an Int32Array over a SharedArrayBuffer, one slot per actor: the sender
 *   adds 1 (Atomics) before the message leaves, the owner subtracts 1 as it hands the message to
 *   `receive`. A sender on any thread therefore sees in-flight plus queued messages.
 * - A throw from an actor stops this runtime (nothing more is delivered) and is reported once,
 *   with the actor, the message type and the stack, through `onFailure`.
 */
import { DefaultSerializer, deserialize } from 'node:v8';
import type { MessagePort } from 'node:worker_threads';
import { SeededRng, assert, utf8 } from '../../base/index.js';
import type { Clock, Logger, Rng } from '../../base/index.js';
import { ByteRing, PORT_HANDLED, PORT_POSTED } from './byte-ring.js';
import { ActorFailure, RunQueue, fnv1a32, runtimeLimits } from '../index.js';
import type {
  ActorContext, Address, AnyActor, MailboxBounds, Message, TimerId,
} from '../index.js';

/** Where an actor lives: its thread (0 is the main thread) and its slot in the depth table. */
export interface Route {
  readonly address: Address;
  readonly thread: number;
  readonly slot: number;
}

export interface ThreadRuntimeConfig {
  readonly thread: number;
  readonly routes: readonly Route[];
  /** One Int32 per route slot, over a SharedArrayBuffer shared by every thread. */
  readonly depths: Int32Array;
  /**
   * One Int32 per route slot, shared like `depths`: 1 while the actor said its inbox may wait
   * for its own next delivery (ActorContext.deferInbox), else 0.
   */
  readonly deferrals: Int32Array;
  /** The byte ring of every directed pair of threads, `rings[from][to]` (null on the diagonal). */
  readonly rings: readonly (readonly (SharedArrayBuffer | null)[])[];
  readonly bounds: MailboxBounds;
  /** Messages per postMessage at most; with `batching` off every message is posted alone. */
  readonly batchMax: number;
  readonly batching: boolean;
  /** Seeds each actor's Rng (mixed with its address). */
  readonly seed: number;
}

/** A failure as it crosses threads: plain data. */
export interface FailureReport {
  readonly actor: string;
  readonly messageType: string;
  readonly stack: string;
}

class LocalActor {
  readonly timers = new Map<number, ReturnType<typeof setTimeout>>();
  /** As last told through deferInbox (mirrored in the shared deferral table). */
  deferred = false;
  ctx!: ThreadContext;
  constructor(readonly address: Address, readonly slot: number, readonly actor: AnyActor) {}
}

/** The main thread's number in a thread host. */
const MAIN_THREAD = 0;

class Outbox {
  pairs: unknown[] = [];
  constructor(readonly port: MessagePort, readonly ring: ByteRing) {}
}

/** A port message that only says "look at your ring". */
const DOORBELL = 0;

/**
 * Structured clone into bytes, as postMessage would clone: a Buffer arrives as a plain
 * Uint8Array (node:v8's default keeps it a Buffer, whose `slice` is a view).
 */
class CloneSerializer extends DefaultSerializer {
  _writeHostObject(object: object): void {
    writeHostObject.call(this, Buffer.isBuffer(object)
      ? new Uint8Array(object.buffer, object.byteOffset, object.length) : object);
  }
}

/** node:v8's hook for typed arrays, which @types/node does not declare. */
const writeHostObject = (DefaultSerializer.prototype as unknown as {
  _writeHostObject: (this: DefaultSerializer, object: object) => void;
})._writeHostObject;

function serializeBatch(pairs: unknown[]): Buffer {
  const serializer = new CloneSerializer();
  serializer.writeHeader();
  serializer.writeValue(pairs);
  return serializer.releaseBuffer();
}

interface Destination {
  readonly slot: number;
  readonly local: LocalActor | null;
  readonly outbox: Outbox | null;
}

class ThreadContext implements ActorContext<Message> {
  readonly #runtime: ThreadRuntime;
  readonly #local: LocalActor;

  constructor(
    readonly self: Address,
    readonly logger: Logger,
    readonly rng: Rng,
    runtime: ThreadRuntime,
    local: LocalActor,
  ) {
    this.#runtime = runtime;
    this.#local = local;
  }

  send<M extends Message>(to: Address, message: M): boolean {
    return this.#runtime.send(this.self, to, message, false);
  }

  trySend<M extends Message>(to: Address, message: M): boolean {
    return this.#runtime.send(this.self, to, message, true);
  }

  now(): number {
    return this.#runtime.clock.now();
  }

  setTimer(delayMs: number, message: Message): TimerId {
    return this.#runtime.setTimer(this.#local, delayMs, message);
  }

  cancelTimer(id: TimerId): boolean {
    return this.#runtime.cancelTimer(this.#local, id);
  }

  deferInbox(deferred: boolean): void {
    this.#runtime.deferInbox(this.#local, deferred);
  }
}

export class ThreadRuntime {
  readonly clock: Clock;
  readonly #config: ThreadRuntimeConfig;
  readonly #logger: Logger;
  readonly #onFailure: (report: FailureReport) => void;
  readonly #depths: Int32Array;
  readonly #destinations = new Map<Address, Destination>();
  readonly #locals: LocalActor[] = [];
  readonly #localBySlot: (LocalActor | undefined)[] = [];
  readonly #outboxes = new Map<number, Outbox>();
  /** Rings from every peer thread to this one (this thread reads them). */
  readonly #inbound: ByteRing[] = [];
  readonly #dirty: Outbox[] = [];
  readonly #queue: RunQueue<LocalActor, Message>;
  #flushScheduled = false;
  #drainScheduled = false;
  #draining = false;
  #started = false;
  #stopped = false;
  #nextTimerId = 1;

  constructor(config: ThreadRuntimeConfig, clock: Clock, logger: Logger,
    onFailure: (report: FailureReport) => void) {
    assert(config.batchMax >= 1, `batchMax must be >= 1: ${config.batchMax}`);
    assert(config.depths.length === config.routes.length, 'one depth slot per route');
    this.#config = config;
    this.clock = clock;
    this.#logger = logger;
    this.#onFailure = onFailure;
    this.#depths = config.depths;
    const queueMax = Math.max(1_024, 2 ** Math.ceil(Math.log2(
      config.bounds.depthMax * Math.max(1, config.routes.length))));
    this.#queue = new RunQueue(queueMax);
  }

  /** Places an actor created on this thread; it must have a route on this thread. */
  addActor(address: Address, actor: AnyActor): void {
    assert(!this.#started, 'actors are added before start');
    const route = this.#config.routes.find((r) => r.address === address);
    assert(route !== undefined, `no route for ${address}`);
    assert(route.thread === this.#config.thread, `${address} is placed on thread ${route.thread}`);
    assert(this.#localBySlot[route.slot] === undefined, `${address} added twice`);
    const local = new LocalActor(address, route.slot, actor);
    const seed = (this.#config.seed & 0x1f_ffff) * 0x1_0000_0000 + fnv1a32(utf8(address));
    local.ctx = new ThreadContext(address, this.#logger.child({ actor: address }),
      new SeededRng(seed), this, local);
    this.#locals.push(local);
    this.#localBySlot[route.slot] = local;
  }

  /** Attaches the port leading to thread `peer`. */
  connect(peer: number, port: MessagePort): void {
    const thread = this.#config.thread;
    assert(peer !== thread, 'a thread does not connect to itself');
    assert(!this.#outboxes.has(peer), `thread ${peer} connected twice`);
    const outRing = this.#config.rings[thread]?.[peer];
    const inRing = this.#config.rings[peer]?.[thread];
    assert(outRing instanceof SharedArrayBuffer && inRing instanceof SharedArrayBuffer,
      `no ring between threads ${thread} and ${peer}`);
    const inbound = new ByteRing(inRing);
    this.#outboxes.set(peer, new Outbox(port, new ByteRing(outRing)));
    this.#inbound.push(inbound);
    port.on('message', (pairs: unknown[] | typeof DOORBELL) => {
      if (pairs === DOORBELL) this.#drain();
      else this.#receiveBatch(pairs, inbound);
    });
  }

  /** Builds the routing table and starts every local actor, then delivers what is queued. */
  start(): void {
    assert(!this.#started, 'ThreadRuntime started twice');
    for (const route of this.#config.routes) {
      const local = this.#localBySlot[route.slot] ?? null;
      const onThisThread = route.thread === this.#config.thread;
      assert(!onThisThread || local !== null, `${route.address} was placed here but not added`);
      const outbox = onThisThread ? null : this.#outboxes.get(route.thread) ?? null;
      assert(onThisThread || outbox !== null, `no port to thread ${route.thread}`);
      this.#destinations.set(route.address, { slot: route.slot, local, outbox });
    }
    this.#started = true;
    for (const local of this.#locals) {
      if (this.#stopped) return;
      try {
        local.actor.start?.(local.ctx);
      } catch (thrown) {
        this.#fail(local.address, '<start>', thrown);
        return;
      }
    }
    this.#drain();
  }

  /** The send path of every context, and of messages injected from outside the actors. */
  send(from: string, to: Address, message: Message, refuseWhenPressured: boolean): boolean {
    const destination = this.#destinations.get(to);
    // Hot path: the assertion messages are built only on failure.
    if (destination === undefined) assert(false, `send from ${from} to unknown actor ${to}`);
    if (this.#stopped) return false;
    const depths = this.#depths;
    const slot = destination.slot;
    const bounds = this.#config.bounds;
    if (refuseWhenPressured && Atomics.load(depths, slot) >= bounds.highWater) return false;
    const before = Atomics.add(depths, slot, 1);
    if (before >= bounds.depthMax) {
      Atomics.sub(depths, slot, 1);
      assert(false, `mailbox of ${to} is full (${bounds.depthMax} messages); ${from} ignored back-pressure`);
    }
    const local = destination.local;
    if (local !== null) {
      // What waits in the rings was sent before this message was: it goes first, so an actor
      // whose inbox waited for this (its own) message sees the waiting ones before it.
      this.#pollRings();
      this.#queue.push(local, message);
      if (!this.#draining) this.#scheduleDrain();
    } else {
      this.#post(destination.outbox!, slot, message);
    }
    return before + 1 < bounds.highWater;
  }

  /** See ActorContext.deferInbox. */
  deferInbox(local: LocalActor, deferred: boolean): void {
    if (local.deferred === deferred) return;
    local.deferred = deferred;
    // Seq-cst store, then the drain reads the rings (#drain): a sender either sees 0 and rings,
    // or wrote its record before this store and the drain's read of the ring finds it.
    Atomics.store(this.#config.deferrals, local.slot, deferred ? 1 : 0);
  }

  setTimer(local: LocalActor, delayMs: number, message: Message): TimerId {
    if (!(delayMs >= 0 && delayMs < Infinity)) assert(false, `timer delay must be >= 0 ms: ${delayMs}`);
    if (local.timers.size >= runtimeLimits.timersPerActorMax) {
      assert(false, `${local.address} has ${runtimeLimits.timersPerActorMax} timers pending`);
    }
    const id = this.#nextTimerId++;
    local.timers.set(id, setTimeout(() => {
      local.timers.delete(id);
      this.#deliverTimer(local, message);
    }, delayMs));
    return id as TimerId;
  }

  cancelTimer(local: LocalActor, id: TimerId): boolean {
    const handle = local.timers.get(id);
    if (handle === undefined) return false;
    clearTimeout(handle);
    local.timers.delete(id);
    return true;
  }

  /**
   * Stops cleanly: nothing more is delivered, every local actor's `stop` runs (a throw there is
   * reported as a failure), timers are cleared, ports closed. Idempotent.
   */
  stop(): void {
    if (this.#stopped) return;
    this.#halt();
    for (const local of this.#locals) {
      try {
        local.actor.stop?.();
      } catch (thrown) {
        this.#report(local.address, '<stop>', thrown);
      }
    }
  }

  /** Messages queued on this thread and not yet handled (for tests and benchmarks). */
  get queued(): number {
    return this.#queue.length;
  }

  #post(outbox: Outbox, slot: number, message: Message): void {
    if (!this.#config.batching) {
      this.#postPort(outbox, [slot, message]);
      return;
    }
    const pairs = outbox.pairs;
    if (pairs.length === 0) this.#dirty.push(outbox);
    pairs.push(slot, message);
    if (pairs.length >= 2 * this.#config.batchMax) {
      outbox.pairs = [];
      this.#send(outbox, pairs);
      // Stays in #dirty; an empty outbox is skipped by the flush.
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      if (this.#config.thread === MAIN_THREAD) setImmediate(this.#flush);
      else queueMicrotask(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const dirty = this.#dirty;
    for (let i = 0; i < dirty.length; i++) {
      const outbox = dirty[i]!;
      if (outbox.pairs.length === 0) continue;
      const pairs = outbox.pairs;
      outbox.pairs = [];
      if (!this.#stopped) this.#send(outbox, pairs);
    }
    dirty.length = 0;
  };

  /**
   * Sends one batch to a peer thread. When every message is for an actor whose inbox may wait,
   * the batch goes into the ring with no wake-up: that actor's thread reads its rings before
   * each delivery of its own and after each drain, so the records are delivered then. Otherwise
   * (or when the ring is full, or a port batch is still unhandled there, which keeps the two
   * paths in order) it is posted through the port as one structured-clone batch.
   */
  #send(outbox: Outbox, pairs: unknown[]): void {
    const control = outbox.ring.control;
    if (this.#allDeferred(pairs) && Atomics.load(control, PORT_HANDLED) === control[PORT_POSTED]
      && outbox.ring.write(serializeBatch(pairs))) {
      // Read again after the seq-cst store that published the record (Dekker with deferInbox
      // and #drain): an actor that stopped deferring meanwhile may have looked before it.
      if (!this.#allDeferred(pairs)) outbox.port.postMessage(DOORBELL);
      return;
    }
    this.#postPort(outbox, pairs);
  }

  #allDeferred(pairs: unknown[]): boolean {
    const deferrals = this.#config.deferrals;
    for (let i = 0; i < pairs.length; i += 2) {
      if (Atomics.load(deferrals, pairs[i] as number) === 0) return false;
    }
    return true;
  }

  #postPort(outbox: Outbox, pairs: unknown[]): void {
    const control = outbox.ring.control;
    Atomics.store(control, PORT_POSTED, control[PORT_POSTED]! + 1);
    outbox.port.postMessage(pairs);
  }

  /** Queues every batch waiting in the rings from other threads; returns how many. */
  #pollRings(): number {
    let batches = 0;
    for (const ring of this.#inbound) {
      if (Atomics.load(ring.control, 0) === ring.control[1]) continue;
      batches += ring.drain(this.#takeRecord);
    }
    return batches;
  }

  readonly #takeRecord = (record: Uint8Array): void => {
    this.#queuePairs(deserialize(record) as unknown[]);
  };

  #receiveBatch(pairs: unknown[], ring: ByteRing): void {
    if (this.#stopped) return;
    // Records the peer wrote before it posted this batch come first.
    this.#pollRings();
    this.#queuePairs(pairs);
    Atomics.add(ring.control, PORT_HANDLED, 1);
    this.#drain();
  }

  #queuePairs(pairs: unknown[]): void {
    assert(Array.isArray(pairs) && pairs.length % 2 === 0, 'cross-thread batch must be pairs');
    const queue = this.#queue;
    for (let i = 0; i < pairs.length; i += 2) {
      const local = this.#localBySlot[pairs[i] as number];
      if (local === undefined) assert(false, `message for slot ${String(pairs[i])}, not on this thread`);
      queue.push(local, pairs[i + 1] as Message);
    }
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    queueMicrotask(() => {
      this.#drainScheduled = false;
      this.#drain();
    });
  }

  #drain(): void {
    if (this.#draining || !this.#started || this.#stopped) return;
    this.#draining = true;
    const queue = this.#queue;
    const depths = this.#depths;
    let local: LocalActor | undefined;
    let message: Message | undefined;
    let budget = runtimeLimits.deliveriesPerTurnMax;
    try {
      this.#pollRings();
      for (;;) {
        while ((local = queue.peekTarget()) !== undefined) {
          if (budget-- === 0) {
            setImmediate(() => this.#drain());
            return;
          }
          message = queue.shiftItem();
          Atomics.sub(depths, local.slot, 1);
          local.actor.receive(message, local.ctx);
        }
        // An actor may have stopped deferring its inbox during the drain: look once more.
        if (this.#pollRings() === 0) break;
      }
    } catch (thrown) {
      this.#fail(local?.address ?? '<unknown>', message?.type ?? '<none>', thrown);
    } finally {
      this.#draining = false;
    }
  }

  #deliverTimer(local: LocalActor, message: Message): void {
    if (this.#stopped) return;
    if (this.#pollRings() > 0) {
      // Messages that waited in the rings were sent before the timer fired: they go first.
      Atomics.add(this.#depths, local.slot, 1);
      this.#queue.push(local, message);
      this.#drain();
      return;
    }
    try {
      local.actor.receive(message, local.ctx);
    } catch (thrown) {
      this.#fail(local.address, message.type, thrown);
      return;
    }
    this.#drain();
  }

  #fail(actor: string, messageType: string, thrown: unknown): void {
    this.#halt();
    this.#report(actor, messageType, thrown);
  }

  #report(actor: string, messageType: string, thrown: unknown): void {
    const failure = ActorFailure.from(actor, messageType, thrown);
    this.#logger.error('actor failed', { actor, messageType, error: failure.causeStack });
    this.#onFailure({ actor, messageType, stack: failure.causeStack });
  }

  /** Stops delivery and releases timers and ports, without calling the actors. */
  #halt(): void {
    this.#stopped = true;
    this.#queue.clear();
    for (const local of this.#locals) {
      for (const handle of local.timers.values()) clearTimeout(handle);
      local.timers.clear();
    }
    for (const outbox of this.#outboxes.values()) outbox.port.close();
  }
}
