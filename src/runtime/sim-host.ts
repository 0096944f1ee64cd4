/**
 * The simulation host: every actor of every member runs in one thread, on a virtual clock, and
 * a seeded generator decides each message's delay (so the interleaving of links); the same seed
 * and the same inputs give the same run, delivery for delivery, which the trace hash proves.
 *
 * Semantics (shared with the thread host): per-link FIFO, bounded mailboxes with a high-water
 * mark (see ActorContext), timers delivered to the actor itself, a throw stops the member with
 * an ActorFailure. Specific to simulation:
 * - delays: a send inside a member waits a uniform delay in `inMemberLatency`, across members
 *   in `crossMemberLatency` (then pushed later if needed to keep its link FIFO);
 * - virtual time has microsecond resolution (delays are whole microseconds, timers round up);
 *   events are ordered by (time, seq) in one calendar queue; `step` delivers the next one;
 * - `crash(member)` drops the member's actors, mailboxes and timers without calling `stop`
 *   (messages they already sent stay in flight); `restart(member)` re-creates its actors from
 *   their factories and starts them; sends to a crashed member are dropped;
 * - the trace hash is FNV-1a over the canonical encoding of (time, from, to, message) of every
 *   delivery, timers included, except for the message types listed in `trace.skipTypes`; the
 *   addresses enter as their own canonical hashes (computed once per actor), to keep it cheap.
 */
import { SeededRng, SimClock, assert, nullLogger } from '../base/index.js';
import type { Logger, Rng } from '../base/index.js';
import { assertAddress, memberOf } from './address.js';
import type { Address } from './address.js';
import type { ActorContext, AnyActor, Message, TimerId } from './actor.js';
import { CanonicalHasher, canonicalHash, hashHex } from './canonical.js';
import { CalendarQueue } from './calendar-queue.js';
import { ActorFailure } from './failure.js';
import { mailboxBounds, runtimeLimits } from './limits.js';
import type { MailboxBounds } from './limits.js';

/** A uniform delay range in virtual milliseconds. */
export interface LatencyRange {
  readonly minMs: number;
  readonly maxMs: number;
}

export interface SimHostOptions {
  readonly seed: number;
  /** Virtual time at the start; 0 by default. */
  readonly startMs?: number;
  /** Delay of a send between actors of one member; 0 to 0.01 ms by default. */
  readonly inMemberLatency?: LatencyRange;
  /** Delay of a send between members; 0.1 to 2 ms by default. */
  readonly crossMemberLatency?: LatencyRange;
  readonly mailbox?: { readonly depthMax?: number; readonly highWater?: number };
  readonly logger?: Logger;
  /** Trace hashing: on by default; `false` turns it off, `skipTypes` leaves some types out. */
  readonly trace?: boolean | { readonly skipTypes: readonly string[] };
}

/** Creates one actor; called at spawn and again at every restart of its member. */
export type SimActorFactory = (address: Address) => AnyActor;

/** The pseudo address of messages injected with `SimHost.send`. */
export const OUTSIDE: Address = 'sim/outside';

const OUTSIDE_HASH = canonicalHash(OUTSIDE);

const KIND_MESSAGE = 0;
const KIND_TIMER = 1;

interface SimEvent {
  /** Virtual time in whole microseconds. */
  readonly time: number;
  readonly seq: number;
  readonly kind: number;
  readonly from: Address;
  /** canonicalHash(from), computed once per sender. */
  readonly fromHash: number;
  readonly to: SimActor;
  readonly epoch: number;
  readonly message: Message;
  cancelled: boolean;
}

interface SimMember {
  readonly name: string;
  up: boolean;
  readonly actors: SimActor[];
}

class SimActor {
  actor: AnyActor | null = null;
  /** Incremented at each (re)start, so stale events are recognisable. */
  epoch = 0;
  /** Messages sent to this actor and not yet delivered. */
  depth = 0;
  readonly timers = new Map<number, SimEvent>();
  /** Per target: the latest delivery time scheduled on that link (keeps links FIFO). */
  readonly links = new Map<SimActor, number>();
  ctx!: SimContext;
  readonly addressHash: number;

  constructor(
    readonly address: Address,
    readonly member: SimMember,
    readonly create: SimActorFactory,
  ) {
    this.addressHash = canonicalHash(address);
  }
}

class SimContext implements ActorContext<Message> {
  readonly self: Address;
  readonly logger: Logger;
  readonly rng: Rng;
  readonly #host: SimHost;
  readonly #record: SimActor;

  constructor(host: SimHost, record: SimActor, logger: Logger, rng: Rng) {
    this.#host = host;
    this.#record = record;
    this.self = record.address;
    this.logger = logger;
    this.rng = rng;
  }

  send<M extends Message>(to: Address, message: M): boolean {
    return this.#host._send(this.#record, this.#record.address, this.#record.links, to, message, false);
  }

  trySend<M extends Message>(to: Address, message: M): boolean {
    return this.#host._send(this.#record, this.#record.address, this.#record.links, to, message, true);
  }

  now(): number {
    return this.#host.clock.now();
  }

  setTimer(delayMs: number, message: Message): TimerId {
    return this.#host._setTimer(this.#record, delayMs, message);
  }

  cancelTimer(id: TimerId): boolean {
    return this.#host._cancelTimer(this.#record, id);
  }
}

export class SimHost {
  readonly clock: SimClock;
  readonly #bounds: MailboxBounds;
  readonly #inMember: LatencyRange;
  readonly #crossMember: LatencyRange;
  readonly #logger: Logger;
  /** Decides delays; actors get their own forks, so their draws do not shift the network's. */
  readonly #netRng: Rng;
  readonly #actorRngs: Rng;
  readonly #heap: CalendarQueue<SimEvent>;
  readonly #inMemberUs: { readonly min: number; readonly span: number };
  readonly #crossMemberUs: { readonly min: number; readonly span: number };
  /** The current virtual time in whole microseconds (the clock reads it in milliseconds). */
  #nowUs: number;
  readonly #actors = new Map<Address, SimActor>();
  readonly #members = new Map<string, SimMember>();
  readonly #outsideLinks = new Map<SimActor, number>();
  readonly #tracing: boolean;
  readonly #skipTypes: ReadonlySet<string>;
  readonly #hasher = new CanonicalHasher();
  #seq = 0;
  #deliveries = 0;

  constructor(options: SimHostOptions) {
    const startMs = options.startMs ?? 0;
    assert(Number.isFinite(startMs) && startMs >= 0, `startMs must be >= 0: ${startMs}`);
    this.#nowUs = Math.round(startMs * 1_000);
    this.clock = new SimClock(this.#nowUs / 1_000);
    this.#bounds = mailboxBounds(options.mailbox);
    this.#inMember = checkLatency(options.inMemberLatency ?? { minMs: 0, maxMs: 0.01 }, 'inMemberLatency');
    this.#crossMember = checkLatency(options.crossMemberLatency ?? { minMs: 0.1, maxMs: 2 },
      'crossMemberLatency');
    this.#logger = options.logger ?? nullLogger;
    const root = new SeededRng(options.seed);
    this.#netRng = root.fork();
    this.#actorRngs = root.fork();
    const trace = options.trace ?? true;
    this.#tracing = trace !== false;
    this.#skipTypes = new Set(typeof trace === 'object' ? trace.skipTypes : []);
    const perActor = this.#bounds.depthMax + runtimeLimits.timersPerActorMax;
    this.#heap = new CalendarQueue(this.#nowUs, runtimeLimits.actorsMax * perActor);
    this.#inMemberUs = toMicros(this.#inMember);
    this.#crossMemberUs = toMicros(this.#crossMember);
  }

  /** Adds one actor (its member is created on first use) and starts it now. */
  spawn(address: Address, create: SimActorFactory): void {
    assertAddress(address);
    assert(!this.#actors.has(address), `actor ${address} already exists`);
    assert(this.#actors.size < runtimeLimits.actorsMax, `more than ${runtimeLimits.actorsMax} actors`);
    const name = memberOf(address);
    let member = this.#members.get(name);
    if (member === undefined) {
      member = { name, up: true, actors: [] };
      this.#members.set(name, member);
    }
    assert(member.up, `cannot spawn ${address}: member ${name} is crashed`);
    const record = new SimActor(address, member, create);
    member.actors.push(record);
    this.#actors.set(address, record);
    this.#start(record);
  }

  /** Injects a message from outside the actors (a client, a test). Same result as ctx.send. */
  send<M extends Message>(to: Address, message: M): boolean {
    return this._send(null, OUTSIDE, this.#outsideLinks, to, message, false);
  }

  /** Injects a message unless the target is pressured. Same result as ctx.trySend. */
  trySend<M extends Message>(to: Address, message: M): boolean {
    return this._send(null, OUTSIDE, this.#outsideLinks, to, message, true);
  }

  /** Delivers the next event; false when nothing is scheduled. Throws an ActorFailure. */
  step(): boolean {
    this.#dropCancelled();
    const event = this.#heap.pop();
    if (event === undefined) return false;
    if (event.kind === KIND_TIMER) event.to.timers.delete(event.seq);
    else event.to.depth--;
    this.#deliver(event);
    return true;
  }

  /** Pops cancelled timers off the top, so the top is the next real event. */
  #dropCancelled(): void {
    for (let top = this.#heap.peek(); top !== undefined && top.cancelled; top = this.#heap.peek()) {
      this.#heap.pop();
    }
  }

  /**
   * Runs until virtual time `until` (a number: every event due by then is delivered and the clock
   * is set to it) or until the predicate holds (checked before each delivery). Returns whether
   * the predicate held (always true for a time); false means the simulation went idle first.
   */
  runUntil(until: number | (() => boolean)): boolean {
    let budget = runtimeLimits.simDeliveriesPerRunMax;
    if (typeof until === 'number') {
      assert(until >= this.clock.now(), `runUntil ${until} is in the past (${this.clock.now()})`);
      const untilUs = Math.floor(until * 1_000);
      for (;;) {
        this.#dropCancelled();
        const next = this.#heap.peek();
        if (next === undefined || next.time > untilUs) break;
        if (budget-- === 0) tooManyDeliveries();
        this.step();
      }
      this.#nowUs = untilUs;
      this.clock.set(until);
      return true;
    }
    while (!until()) {
      if (budget-- === 0) tooManyDeliveries();
      if (!this.step()) return false;
    }
    return true;
  }

  /** Runs for `ms` of virtual time from now. */
  runFor(ms: number): void {
    this.runUntil(this.clock.now() + ms);
  }

  /** Drops every actor of `member` with its mailboxes and timers; `stop` is not called. */
  crash(member: string): void {
    const m = this.#member(member);
    assert(m.up, `member ${member} is already crashed`);
    this.#down(m);
    this.#logger.warn('member crashed', { member });
  }

  /** Re-creates the actors of a crashed member from their factories and starts them. */
  restart(member: string): void {
    const m = this.#member(member);
    assert(!m.up, `member ${member} is not crashed`);
    m.up = true;
    this.#logger.info('member restarted', { member });
    // Every actor gets its new epoch before any of them starts, so what one sends from its
    // start() to another of the same member is not taken for mail of the crashed incarnation.
    for (const record of m.actors) this.#reset(record);
    for (const record of m.actors) this.#launch(record);
  }

  /** Stops `member` cleanly: calls each actor's `stop`, then drops them as a crash does. */
  stop(member: string): void {
    const m = this.#member(member);
    assert(m.up, `member ${member} is not running`);
    for (const record of m.actors) {
      try {
        record.actor?.stop?.();
      } catch (thrown) {
        this.#down(m);
        throw ActorFailure.from(record.address, '<stop>', thrown);
      }
    }
    this.#down(m);
  }

  isUp(member: string): boolean {
    return this.#member(member).up;
  }

  /** Messages sent to `address` and not yet delivered. */
  depth(address: Address): number {
    return this.#record(address).depth;
  }

  /** Events (messages and live or cancelled timers) still scheduled. */
  get pending(): number {
    return this.#heap.size;
  }

  /** Messages and timers delivered so far. */
  get deliveries(): number {
    return this.#deliveries;
  }

  /** The trace hash so far, as 8 hex digits. */
  traceHash(): string {
    return hashHex(this.#hasher.hash);
  }

  /** @internal The send path of contexts and of `send`. */
  _send(from: SimActor | null, fromAddress: Address, links: Map<SimActor, number>, to: Address,
    message: Message, refuseWhenPressured: boolean): boolean {
    const target = this.#actors.get(to);
    // Hot path: the assertion messages are built only on failure.
    if (target === undefined) assert(false, `send from ${fromAddress} to unknown actor ${to}`);
    const bounds = this.#bounds;
    if (refuseWhenPressured && target.depth >= bounds.highWater) return false;
    if (!target.member.up) return true; // A crashed member's mail is lost, as on a real crash.
    if (target.depth >= bounds.depthMax) assert(false,
      `mailbox of ${to} is full (${bounds.depthMax} messages); ${fromAddress} ignored back-pressure`);
    const sameMember = from !== null && from.member === target.member;
    const latency = sameMember ? this.#inMemberUs : this.#crossMemberUs;
    let time = this.#nowUs + latency.min;
    if (latency.span > 0) time += Math.floor(this.#netRng.float() * (latency.span + 1));
    const last = links.get(target);
    if (last !== undefined && last > time) time = last;
    links.set(target, time);
    target.depth++;
    this.#heap.push({
      time, seq: this.#seq++, kind: KIND_MESSAGE, from: fromAddress,
      fromHash: from === null ? OUTSIDE_HASH : from.addressHash, to: target,
      epoch: target.epoch, message, cancelled: false,
    });
    return target.depth < bounds.highWater;
  }

  /** @internal */
  _setTimer(record: SimActor, delayMs: number, message: Message): TimerId {
    if (!(delayMs >= 0 && delayMs < Infinity)) assert(false, `timer delay must be >= 0 ms: ${delayMs}`);
    if (record.timers.size >= runtimeLimits.timersPerActorMax) {
      assert(false, `${record.address} has ${runtimeLimits.timersPerActorMax} timers pending`);
    }
    const seq = this.#seq++;
    const event: SimEvent = {
      time: this.#nowUs + Math.ceil(delayMs * 1_000), seq, kind: KIND_TIMER, from: record.address,
      fromHash: record.addressHash, to: record,
      epoch: record.epoch, message, cancelled: false,
    };
    record.timers.set(seq, event);
    this.#heap.push(event);
    return seq as TimerId;
  }

  /** @internal */
  _cancelTimer(record: SimActor, id: TimerId): boolean {
    const event = record.timers.get(id);
    if (event === undefined) return false;
    event.cancelled = true;
    record.timers.delete(id);
    return true;
  }

  #deliver(event: SimEvent): void {
    const to = event.to;
    if (!to.member.up || event.epoch !== to.epoch) assert(false, `stale event for ${to.address} kept`);
    this.#nowUs = event.time;
    this.clock.set(event.time / 1_000);
    this.#deliveries++;
    const message = event.message;
    if (this.#tracing && (this.#skipTypes.size === 0 || !this.#skipTypes.has(message.type))) {
      const hasher = this.#hasher;
      hasher.number(event.time);
      hasher.number(event.fromHash);
      hasher.number(to.addressHash);
      hasher.value(message);
    }
    try {
      to.actor!.receive(message, to.ctx);
    } catch (thrown) {
      this.#fail(to, message.type, thrown);
    }
  }

  #start(record: SimActor): void {
    this.#reset(record);
    this.#launch(record);
  }

  #reset(record: SimActor): void {
    record.epoch++;
    record.depth = 0;
    record.links.clear();
  }

  #launch(record: SimActor): void {
    const rng = this.#actorRngs.fork();
    record.ctx = new SimContext(this, record, this.#logger.child({ actor: record.address }), rng);
    try {
      record.actor = record.create(record.address);
      record.actor.start?.(record.ctx);
    } catch (thrown) {
      this.#fail(record, '<start>', thrown);
    }
  }

  #fail(record: SimActor, messageType: string, thrown: unknown): never {
    const failure = ActorFailure.from(record.address, messageType, thrown);
    this.#logger.error('actor failed; member stopped', {
      actor: record.address, messageType, error: failure.causeStack,
    });
    if (record.member.up) this.#down(record.member);
    throw failure;
  }

  #down(member: SimMember): void {
    member.up = false;
    const records = new Set(member.actors);
    this.#heap.removeWhere((event) => records.has(event.to));
    for (const record of member.actors) {
      record.actor = null;
      record.depth = 0;
      record.timers.clear();
    }
  }

  #member(name: string): SimMember {
    const m = this.#members.get(name);
    assert(m !== undefined, `unknown member ${name}`);
    return m;
  }

  #record(address: Address): SimActor {
    const r = this.#actors.get(address);
    assert(r !== undefined, `unknown actor ${address}`);
    return r;
  }
}

function toMicros(range: LatencyRange): { min: number; span: number } {
  const min = Math.round(range.minMs * 1_000);
  return { min, span: Math.round(range.maxMs * 1_000) - min };
}

function tooManyDeliveries(): never {
  assert(false, `runUntil made ${runtimeLimits.simDeliveriesPerRunMax} deliveries (livelock?)`);
}

function checkLatency(range: LatencyRange, name: string): LatencyRange {
  assert(Number.isFinite(range.minMs) && range.minMs >= 0, `${name}.minMs must be >= 0`);
  assert(Number.isFinite(range.maxMs) && range.maxMs >= range.minMs, `${name}.maxMs must be >= minMs`);
  return range;
}
