/**
 * src/runtime: the actor contract and the simulation host (pure: imports only src/base).
 *
 * Owns: what an actor is (Actor, ActorContext, Message, ActorFactory), addresses (`member/actor`),
 * supervision (ActorFailure), mailbox bounds and back-pressure semantics, the canonical encoding
 * and trace hash, and SimHost, which runs any number of members in one thread on virtual time.
 * The thread host (worker_threads, real clock) is in ./node and implements the same semantics.
 *
 * Invariants both hosts keep:
 * - an actor handles one message at a time, only through `receive`, after `start`;
 * - messages from one actor to another arrive in send order (per-link FIFO);
 * - a mailbox never holds more than its `depthMax`; above `highWater` `send` returns false and
 *   `trySend` refuses; a send into a full mailbox throws;
 * - a throw inside an actor is never swallowed: the host stops (the member / itself) and
 *   surfaces an ActorFailure naming the actor and the message type;
 * - messages are plain data with a string `type`.
 */
export type { Address } from './address.js';
export { address, assertAddress, memberOf } from './address.js';
export type {
  Actor, ActorContext, ActorFactory, AnyActor, Message, TimerId,
} from './actor.js';
export { ActorFailure, describeThrown, messageTypeOf } from './failure.js';
export type { MailboxBounds } from './limits.js';
export { mailboxBounds, runtimeLimits } from './limits.js';
export { CanonicalHasher, canonicalEncode, canonicalHash, fnv1a32, hashHex } from './canonical.js';
export type { Scheduled } from './event-heap.js';
export { EventHeap } from './event-heap.js';
export { CalendarQueue } from './calendar-queue.js';
export { RunQueue } from './run-queue.js';
export type { LatencyRange, SimActorFactory, SimHostOptions } from './sim-host.js';
export { OUTSIDE, SimHost } from './sim-host.js';
export { LEASE_ANSWER_CODES } from './peer-frames.js';
export type { LeaseAnswerCode, LeaseAnswerFrame, LeaseRequestFrame, PeerFrame } from './peer-frames.js';
