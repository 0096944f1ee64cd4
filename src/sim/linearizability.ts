/**
 * Linearizability of a key-value history: Wing & Gong's search with Lowe's memoization, as
 * Porcupine does it. Every operation carries its real-time interval [call, return] (a write
 * whose outcome the client never learned has return = Infinity: it may take effect at any point
 * after its call, or never). The history is split by key first (every operation here touches one
 * key, and linearizability is compositional, Herlihy & Wing), then each key's history is searched:
 * walk the events in time order, linearize a call whose model step matches its observed output,
 * backtrack at a return that nothing linearized before, and never revisit a (set of linearized
 * operations, state) pair already explored.
 *
 * The verdict explains a failure: the longest linearizable prefix found, the state the model held
 * after it, and the operations that could come next and why each cannot.
 */
import { assert } from '../base/index.js';

/** One key-value operation on a single key, as the client issued it. */
export type KvOp =
  | { readonly kind: 'put'; readonly key: string; readonly value: string }
  | { readonly kind: 'get'; readonly key: string }
  | { readonly kind: 'delete'; readonly key: string }
  /** A Txn: if the key's value is `expect` (null: absent) then put `value`. */
  | { readonly kind: 'cas'; readonly key: string; readonly expect: string | null; readonly value: string };

/** What the client observed; absent for an operation whose outcome is unknown. */
export type KvOutput =
  | { readonly kind: 'put' }
  | { readonly kind: 'get'; readonly value: string | null }
  | { readonly kind: 'delete'; readonly deleted: number }
  | { readonly kind: 'cas'; readonly succeeded: boolean };

export interface KvHistoryOp {
  readonly id: number;
  readonly client: number;
  readonly op: KvOp;
  /** Virtual milliseconds. */
  readonly callMs: number;
  /** Infinity when the outcome is unknown (a timed-out write). */
  readonly returnMs: number;
  /** null when the outcome is unknown. */
  readonly output: KvOutput | null;
}

type State = string | null;

/** The sequential specification: the next state, or null when `out` is impossible from `s`. */
export function stepKv(s: State, op: KvOp, out: KvOutput | null): { readonly next: State } | null {
  switch (op.kind) {
    case 'put':
      return { next: op.value };
    case 'get':
      if (out === null) return { next: s };
      return out.kind === 'get' && out.value === s ? { next: s } : null;
    case 'delete':
      if (out === null) return { next: null };
      return out.kind === 'delete' && out.deleted === (s === null ? 0 : 1) ? { next: null } : null;
    case 'cas': {
      const holds = s === op.expect;
      if (out === null) return { next: holds ? op.value : s };
      if (out.kind !== 'cas' || out.succeeded !== holds) return null;
      return { next: holds ? op.value : s };
    }
  }
}

export type LinearizabilityVerdict =
  | { readonly ok: true; readonly keys: number; readonly operations: number; readonly explored: number }
  | { readonly ok: false; readonly key: string; readonly explanation: string; readonly operations: readonly KvHistoryOp[] }
  | { readonly ok: 'unknown'; readonly key: string; readonly explored: number };

/** Search steps per key at most; beyond it the verdict is 'unknown' (never a false pass). */
export const LINEARIZABILITY_STEPS_MAX = 2_000_000;

export function checkLinearizable(history: readonly KvHistoryOp[], stepsMax = LINEARIZABILITY_STEPS_MAX): LinearizabilityVerdict {
  const byKey = new Map<string, KvHistoryOp[]>();
  for (const h of history) {
    assert(h.callMs <= h.returnMs, `operation ${h.id} returns before its call`);
    let list = byKey.get(h.op.key);
    if (list === undefined) byKey.set(h.op.key, list = []);
    list.push(h);
  }
  let explored = 0;
  for (const key of [...byKey.keys()].sort()) {
    const ops = byKey.get(key)!;
    const r = checkKey(ops, stepsMax);
    if (r.ok === false) return { ok: false, key, explanation: r.explanation, operations: ops };
    if (r.ok === 'unknown') return { ok: 'unknown', key, explored: r.explored };
    explored += r.explored;
  }
  return { ok: true, keys: byKey.size, operations: history.length, explored };
}

interface Node {
  readonly op: KvHistoryOp | null;
  readonly index: number;
  readonly isCall: boolean;
  readonly time: number;
  match: Node | null;
  prev: Node | null;
  next: Node | null;
}

function checkKey(ops: readonly KvHistoryOp[], stepsMax: number):
  { ok: true; explored: number } | { ok: false; explanation: string } | { ok: 'unknown'; explored: number } {
  const events: Node[] = [];
  ops.forEach((op, index) => {
    const call: Node = { op, index, isCall: true, time: op.callMs, match: null, prev: null, next: null };
    const ret: Node = { op, index, isCall: false, time: op.returnMs, match: null, prev: null, next: null };
    call.match = ret;
    events.push(call, ret);
  });
  // At equal times calls go first: operations that touch at an instant count as concurrent.
  events.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.index - b.index);
  const head: Node = { op: null, index: -1, isCall: false, time: -Infinity, match: null, prev: null, next: null };
  let last = head;
  for (const e of events) {
    e.prev = last;
    last.next = e;
    last = e;
  }
  const linearized = new Uint32Array(Math.ceil(ops.length / 32));
  const seen = new Set<string>();
  const stack: { node: Node; state: State }[] = [];
  let state: State = null;
  let entry = head.next;
  let explored = 0;
  let best: { depth: number; state: State; order: number[] } = { depth: -1, state: null, order: [] };
  while (head.next !== null) {
    if (++explored > stepsMax) return { ok: 'unknown', explored };
    assert(entry !== null, 'the walk ends at a return');
    if (entry.isCall) {
      const op = entry.op!;
      const r = stepKv(state, op.op, op.output);
      if (r !== null) {
        linearized[entry.index >>> 5]! ^= 1 << (entry.index & 31);
        const memo = `${linearized.join(',')}|${r.next ?? '\u0000'}`;
        if (!seen.has(memo)) {
          seen.add(memo);
          stack.push({ node: entry, state });
          state = r.next;
          lift(entry);
          if (stack.length > best.depth) {
            best = { depth: stack.length, state, order: stack.map((s) => s.node.index) };
          }
          entry = head.next;
          continue;
        }
        linearized[entry.index >>> 5]! ^= 1 << (entry.index & 31);
      }
      entry = entry.next;
    } else {
      if (stack.length === 0) return { ok: false, explanation: explain(ops, best) };
      const top = stack.pop()!;
      state = top.state;
      linearized[top.node.index >>> 5]! ^= 1 << (top.node.index & 31);
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return { ok: true, explored };
}

function lift(call: Node): void {
  call.prev!.next = call.next;
  if (call.next !== null) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next !== null) ret.next.prev = ret.prev;
}

function unlift(call: Node): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next !== null) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next !== null) call.next.prev = call;
}

export function describeOp(h: KvHistoryOp): string {
  const o = h.op;
  const what = o.kind === 'put' ? `put ${o.key}=${o.value}`
    : o.kind === 'get' ? `get ${o.key}`
      : o.kind === 'delete' ? `delete ${o.key}`
        : `txn if ${o.key}==${o.expect ?? '<absent>'} then put ${o.key}=${o.value}`;
  const out = h.output === null ? 'outcome unknown'
    : h.output.kind === 'get' ? `-> ${h.output.value ?? '<absent>'}`
      : h.output.kind === 'delete' ? `-> deleted ${h.output.deleted}`
        : h.output.kind === 'cas' ? `-> ${h.output.succeeded ? 'succeeded' : 'failed'}` : '-> ok';
  const ret = h.returnMs === Infinity ? '...' : h.returnMs.toFixed(3);
  return `#${h.id} client ${h.client} [${h.callMs.toFixed(3)}, ${ret}] ms: ${what} ${out}`;
}

function explain(ops: readonly KvHistoryOp[], best: { depth: number; state: State; order: number[] }): string {
  const lines: string[] = [];
  const depth = Math.max(best.depth, 0);
  lines.push(`no linearization exists; the longest linearizable prefix has ${depth} of ${ops.length} operations:`);
  for (const i of best.order.slice(-8)) lines.push(`  ${describeOp(ops[i]!)}`);
  lines.push(`after it the key holds ${best.state ?? '<absent>'}; none of the operations that may come next fits:`);
  // The candidates: every operation not in the prefix whose call precedes the earliest return
  // among those not in the prefix.
  const done = new Set(best.order);
  let firstReturn = Infinity;
  for (const [i, h] of ops.entries()) if (!done.has(i) && h.returnMs < firstReturn) firstReturn = h.returnMs;
  let shown = 0;
  for (const [i, h] of ops.entries()) {
    if (done.has(i) || h.callMs > firstReturn || shown >= 8) continue;
    shown++;
    lines.push(`  ${describeOp(h)}: ${whyNot(best.state, h)}`);
  }
  return lines.join('\n');
}

function whyNot(s: State, h: KvHistoryOp): string {
  const o = h.op;
  const out = h.output;
  if (o.kind === 'get' && out?.kind === 'get') {
    return `a read of ${out.value ?? '<absent>'} where ${s ?? '<absent>'} is current (stale or lost write)`;
  }
  if (o.kind === 'cas' && out?.kind === 'cas') {
    return `the txn ${out.succeeded ? 'succeeded' : 'failed'} but its compare ${s === o.expect ? 'holds' : 'does not hold'}`;
  }
  if (o.kind === 'delete' && out?.kind === 'delete') return `deleted ${out.deleted} where the key is ${s === null ? 'absent' : 'present'}`;
  return 'fits here, but every continuation after it fails';
}
