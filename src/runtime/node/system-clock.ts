/**
 * The real clock. `performance.now()` is monotonic but its origin is per thread (each worker
 * has its own `timeOrigin`), so we add `performance.timeOrigin`: every thread of a process then
 * reads the same time scale (Unix milliseconds, fractional), still advancing monotonically.
 */
import { performance } from 'node:perf_hooks';
import type { Clock } from '../../base/index.js';

export class SystemClock implements Clock {
  readonly #origin = performance.timeOrigin;

  now(): number {
    return this.#origin + performance.now();
  }
}
