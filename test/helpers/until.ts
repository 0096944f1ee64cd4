/**
 * Polls `probe` until it returns a value (not undefined) and resolves with it; a probe that throws
 * counts as not yet. Rejects after `timeoutMs`, naming `what` and the last error. For tests that
 * wait on real processes (elections, catch-up), bounded rather than timed.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${String(last)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
