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
import type { MessagePort } from 'node:worker_threads';
import { SeededRng, assert, utf8 } from '../../base/index.js';
import type { Clock, Logger, Rng } from '../../base/index.js';
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
  ctx!: ThreadContext;
  constructor(readonly address: Address, readonly slot: number, readonly actor: AnyActor) {}
}

/** The main thread's number in a thread host. */
const MAIN_THREAD = 0;

class Outbox {
  pairs: unknown[] = [];
  constructor(readonly port: MessagePort) {}
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
    assert(peer !== this.#config.thread, 'a thread does not connect to itself');
    assert(!this.#outboxes.has(peer), `thread ${peer} connected twice`);
    this.#outboxes.set(peer, new Outbox(port));
    port.on('message', (pairs: unknown[]) => this.#receiveBatch(pairs));
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
      this.#queue.push(local, message);
      if (!this.#draining) this.#scheduleDrain();
    } else {
      this.#post(destination.outbox!, slot, message);
    }
    return before + 1 < bounds.highWater;
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
      outbox.port.postMessage([slot, message]);
      return;
    }
    const pairs = outbox.pairs;
    if (pairs.length === 0) this.#dirty.push(outbox);
    pairs.push(slot, message);
    if (pairs.length >= 2 * this.#config.batchMax) {
      outbox.pairs = [];
      outbox.port.postMessage(pairs);
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
      if (!this.#stopped) outbox.port.postMessage(pairs);
    }
    dirty.length = 0;
  };

  #receiveBatch(pairs: unknown[]): void {
    if (this.#stopped) return;
    assert(Array.isArray(pairs) && pairs.length % 2 === 0, 'cross-thread batch must be pairs');
    const queue = this.#queue;
    for (let i = 0; i < pairs.length; i += 2) {
      const local = this.#localBySlot[pairs[i] as number];
      if (local === undefined) assert(false, `message for slot ${String(pairs[i])}, not on this thread`);
      queue.push(local, pairs[i + 1] as Message);
    }
    this.#drain();
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
      while ((local = queue.peekTarget()) !== undefined) {
        if (budget-- === 0) {
          setImmediate(() => this.#drain());
          break;
        }
        message = queue.shiftItem();
        Atomics.sub(depths, local.slot, 1);
        local.actor.receive(message, local.ctx);
      }
    } catch (thrown) {
      this.#fail(local?.address ?? '<unknown>', message?.type ?? '<none>', thrown);
    } finally {
      this.#draining = false;
    }
  }

  #deliverTimer(local: LocalActor, message: Message): void {
    if (this.#stopped) return;
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
