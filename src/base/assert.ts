/**
 * Always-on assertions (TigerBeetle style): a failed assertion is a programmer error, never an
 * expected outcome, and it stops the actor that hit it. Expected outcomes are returned as values.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/** Throws AssertionError with `why` unless `condition` holds. Split compound conditions. */
export function assert(condition: unknown, why: string): asserts condition {
  if (!condition) throw new AssertionError(why);
}

/** Marks a switch as exhaustive: the compiler proves `value` is `never`, the runtime checks it. */
export function assertNever(value: never, what = 'value'): never {
  throw new AssertionError(`unexpected ${what}: ${describe(value)}`);
}

/** Asserts `n` is a non-negative safe integer (revisions, indexes, terms, counts). */
export function assertCount(n: number, what: string): void {
  assert(Number.isSafeInteger(n), `${what} must be a safe integer, got ${n}`);
  assert(n >= 0, `${what} must not be negative, got ${n}`);
}

function describe(value: unknown): string {
  if (typeof value === 'object' && value !== null && 'type' in value) {
    return String((value as { type: unknown }).type);
  }
  return String(value);
}
