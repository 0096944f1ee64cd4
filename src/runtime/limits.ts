/**
 * Named limits of the actor runtime (the shared ones, mailbox depth and cross-thread batch size,
 * live in src/base/limits.ts).
 */
import { assert, limits } from '../base/index.js';

export const runtimeLimits = {
  /** Timers one actor may have pending at once. */
  timersPerActorMax: 65_536,
  /** Actors one host may run (members times actors per member). */
  actorsMax: 4_096,
  /** Messages a thread delivers in one event-loop turn before yielding to I/O. */
  deliveriesPerTurnMax: 65_536,
  /** Deliveries a single SimHost.runUntil may make before it gives up (a livelock guard). */
  simDeliveriesPerRunMax: 100_000_000,
} as const;

/** Mailbox bounds: a hard maximum and the mark above which a mailbox counts as pressured. */
export interface MailboxBounds {
  readonly depthMax: number;
  readonly highWater: number;
}

/** Fills and checks mailbox bounds; the high-water mark defaults to half the maximum. */
export function mailboxBounds(options: { depthMax?: number; highWater?: number } = {}): MailboxBounds {
  const depthMax = options.depthMax ?? limits.mailboxDepthMax;
  const highWater = options.highWater ?? Math.floor(depthMax / 2);
  assert(Number.isSafeInteger(depthMax) && depthMax >= 1, `mailbox depthMax must be >= 1: ${depthMax}`);
  assert(Number.isSafeInteger(highWater) && highWater >= 0, `mailbox highWater must be >= 0: ${highWater}`);
  assert(highWater <= depthMax, `mailbox highWater ${highWater} above depthMax ${depthMax}`);
  return { depthMax, highWater };
}
