/**
 * The actor contract. An actor is a message handler with private state; it shares nothing with
 * other actors and reaches the world only through its ActorContext. Two hosts implement the
 * context: the simulation host (every actor of every member in one thread, virtual time, seeded
 * delivery order) and the thread host (actors on worker_threads, real time). An actor never knows
 * which one runs it.
 */
import type { Logger, Rng } from '../base/index.js';
import type { Address } from './address.js';

/**
 * A message: plain data (numbers, strings, booleans, bigint, Uint8Array, arrays, plain objects;
 * no classes, functions or undefined-valued fields) with a `type` naming it, such as
 * `'raft.propose'` (`'<actor>.<name>'`; commands imperative, events past tense). Plain data is
 * what crosses a thread boundary by structured clone and what the simulator's trace hash reads.
 */
export interface Message {
  readonly type: string;
}

/** A timer handle, unique within its host. */
export type TimerId = number & { readonly __timerId: true };

/**
 * What an actor may do besides computing: send, read the clock, set timers, draw random numbers
 * and log. Nothing else (no I/O, no ambient time) so the same actor runs under both hosts.
 *
 * Ordering: messages from one actor to another arrive in the order they were sent (per-link
 * FIFO, under both hosts). Nothing is promised about the interleaving of different links.
 *
 * Back-pressure: every mailbox holds at most `mailboxDepthMax` messages (sent and not yet
 * handled, in flight included). Above its high-water mark a mailbox is "pressured":
 * - `send` still enqueues and returns false, telling a producer that can slow down to do so;
 * - `trySend` refuses (enqueues nothing, returns false), which is what a front uses to answer a
 *   proposal with "too many requests" instead of queueing it;
 * - a `send` into a full mailbox is a programmer error: it throws, and the sender's member stops.
 */
export interface ActorContext<In extends Message = Message> {
  /** This actor's own address. */
  readonly self: Address;
  /** A logger carrying `{ actor: self }` on every line. */
  readonly logger: Logger;
  /** This actor's own random generator: seeded by the host, so reproducible under simulation. */
  readonly rng: Rng;
  /**
   * Enqueues `message` for `to`. Returns true when the target mailbox is below its high-water
   * mark after the enqueue, false when it is pressured. Throws when the mailbox is full or the
   * address is unknown to the host.
   */
  send<M extends Message>(to: Address, message: M): boolean;
  /** Enqueues `message` only when `to` is below its high-water mark; returns whether it did. */
  trySend<M extends Message>(to: Address, message: M): boolean;
  /** Monotonic milliseconds (virtual under simulation). */
  now(): number;
  /** Delivers `message` to this actor itself after `delayMs` (>= 0). */
  setTimer(delayMs: number, message: In): TimerId;
  /** Cancels a pending timer; returns false when it already fired or was cancelled. */
  cancelTimer(id: TimerId): boolean;
  /**
   * A hint, which a host may ignore: while `deferred` is true, messages to this actor may wait
   * until its own next delivery, a timer or a message it sends itself, which the actor must be
   * certain to get (raft while a Ready is being persisted: nothing it receives acts before the
   * persist ends). The thread host then posts no wake-up to this actor's thread for them. Order
   * and delivery are unchanged; only their moment may move, never past that next delivery.
   */
  deferInbox?(deferred: boolean): void;
}

/**
 * An actor. The host calls `start` once before the first message, `receive` once per message,
 * never concurrently, and `stop` once when the actor's member shuts down cleanly (not on a crash:
 * a crashed actor is simply dropped). A throw from any of them is a programmer error: the host
 * stops the member loudly with an ActorFailure naming the actor and the message type; nothing is
 * swallowed. Expected outcomes are sent as messages, never thrown.
 *
 * `In` is the union of messages this actor accepts (its inbox), timer messages included.
 *
 * Keep the context for the actor's lifetime if it needs to send from a host I/O callback (the
 * thread host allows a send from, say, an LMDB commit promise); but a throw in such a callback
 * is outside `receive` and so not supervised: send yourself a message and do the work there.
 *
 * @example
 * ```ts
 * type PingInbox = { type: 'ping.ping'; from: Address; n: number } | { type: 'ping.tick' };
 *
 * class Ping implements Actor<PingInbox> {
 *   #seen = 0; // private state: only receive touches it
 *   start(ctx: ActorContext<PingInbox>): void { ctx.setTimer(100, { type: 'ping.tick' }); }
 *   receive(message: PingInbox, ctx: ActorContext<PingInbox>): void {
 *     switch (message.type) {
 *       case 'ping.ping':
 *         this.#seen++;
 *         ctx.send(message.from, { type: 'pong.pong', n: message.n });
 *         return;
 *       case 'ping.tick':
 *         ctx.logger.info('pings so far', { seen: this.#seen });
 *         ctx.setTimer(100, { type: 'ping.tick' });
 *         return;
 *       default:
 *         assertNever(message, 'ping message');
 *     }
 *   }
 * }
 * // Thread host: export `const createPing: ActorFactory<PingInbox> = () => new Ping();`
 * // and place { address: 'm1/ping', module: <file URL of the compiled module>, export: 'createPing' }.
 * // Simulation host: sim.spawn('m1/ping', () => new Ping()).
 * ```
 */
export interface Actor<In extends Message = Message> {
  start?(ctx: ActorContext<In>): void;
  receive(message: In, ctx: ActorContext<In>): void;
  stop?(): void;
}

/**
 * Creates an actor from plain-data options. The thread host loads a module inside a worker and
 * calls one of its exports of this type; the simulation host calls it directly.
 */
export type ActorFactory<In extends Message = Message, Options = unknown> =
  (options: Options) => Actor<In>;

/** Any actor, for hosts that store actors of many inbox types side by side. */
// The host checks nothing about the message type; each actor's own exhaustive switch does.
export type AnyActor = Actor<any>;
