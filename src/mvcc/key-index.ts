/**
 * The key index of one key: its generations of revisions (etcd's keyIndex), as plain arrays so
 * they encode straight into the backend. A generation is [created, main0, sub0, main1, sub1, ...];
 * every generation but the last is closed by its final revision, the tombstone; after a delete the
 * last generation is empty ([]). These functions are pure: they read or return new arrays.
 */
import { assert } from '../base/index.js';
import type { Generation } from './codec.js';

export interface Found {
  readonly main: number;
  readonly sub: number;
  readonly created: number;
}

const revCount = (g: Generation): number => (g.length - 1) / 2;

/** The revision that holds the key's value at `rev`, or undefined if absent (or deleted) then. */
export function findAt(generations: readonly Generation[], rev: number): Found | undefined {
  for (let gi = generations.length - 1; gi >= 0; gi--) {
    const g = generations[gi]!;
    if (g.length === 0) continue;
    assert(g.length % 2 === 1, 'a generation is created + pairs');
    if (g[1]! > rev) continue;
    let i = revCount(g) - 1;
    while (i > 0 && g[1 + 2 * i]! > rev) i--;
    const closed = gi < generations.length - 1;
    if (closed && i === revCount(g) - 1) return undefined;
    return { main: g[1 + 2 * i]!, sub: g[2 + 2 * i]!, created: g[0]! };
  }
  return undefined;
}

/** Appends a put at (main, sub); starts a generation when the key does not exist. */
export function withPut(
  generations: readonly Generation[], main: number, sub: number,
): Generation[] {
  const out = generations.map((g) => g);
  const last = out[out.length - 1];
  if (last === undefined || last.length === 0) {
    out[Math.max(0, out.length - 1)] = [main, main, sub];
  } else {
    assert(last[last.length - 2]! <= main, 'revisions grow');
    out[out.length - 1] = [...last, main, sub];
  }
  return out;
}

/** Appends a tombstone at (main, sub) and opens the next, empty generation. */
export function withTombstone(
  generations: readonly Generation[], main: number, sub: number,
): Generation[] {
  const last = generations[generations.length - 1];
  assert(last !== undefined && last.length > 0, 'only an existing key is deleted');
  const out = generations.slice(0, -1);
  out.push([...last, main, sub], []);
  return out;
}

export interface Compacted {
  /** The generations left, or undefined when the key has no history left at all. */
  readonly generations: Generation[] | undefined;
  /** Revisions [main, sub] whose records are to be removed. */
  readonly drop: Array<readonly [number, number]>;
}

/**
 * etcd's compaction rule for one key at revision `at`: keep every revision above `at`, and the
 * newest revision at or below `at` unless it is a tombstone. Closed generations left with nothing
 * disappear; a key left with only an empty generation disappears from the index.
 */
export function compactAt(generations: readonly Generation[], at: number): Compacted {
  const latest = findAt(generations, at);
  const drop: Array<readonly [number, number]> = [];
  const out: Generation[] = [];
  generations.forEach((g, gi) => {
    const last = gi === generations.length - 1;
    if (g.length === 0) {
      assert(last, 'only the last generation may be empty');
      out.push([]);
      return;
    }
    const kept: number[] = [g[0]!];
    for (let i = 1; i < g.length; i += 2) {
      const main = g[i]!;
      const sub = g[i + 1]!;
      const isLatest = latest !== undefined && latest.main === main && latest.sub === sub;
      const keep = main > at || isLatest;
      if (keep) kept.push(main, sub);
      else drop.push([main, sub]);
    }
    if (kept.length > 1 || last) out.push(kept);
  });
  const only = out[0];
  if (out.length === 1 && only !== undefined && only.length <= 1) {
    return { generations: undefined, drop };
  }
  return { generations: out, drop };
}

/**
 * The generations with some of `compactAt`'s drops already applied (a prefix of its drop list, so
 * a tombstone never goes before the puts of its generation). Closed generations left with no
 * revision disappear. Reads at or above the compaction revision see no difference.
 */
export function withoutRevisions(
  generations: readonly Generation[], drop: ReadonlyArray<readonly [number, number]>,
): Generation[] {
  const gone = new Set(drop.map(([main, sub]) => `${main}.${sub}`));
  const out: Generation[] = [];
  generations.forEach((g, gi) => {
    const last = gi === generations.length - 1;
    if (g.length === 0) {
      out.push([]);
      return;
    }
    const kept: number[] = [g[0]!];
    for (let i = 1; i < g.length; i += 2) {
      if (!gone.has(`${g[i]}.${g[i + 1]}`)) kept.push(g[i]!, g[i + 1]!);
    }
    if (kept.length > 1 || last) out.push(kept);
  });
  return out;
}
