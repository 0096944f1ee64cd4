/**
 * A deliberately simple reference model of etcd's key space: it keeps a full copy of the key
 * space for every revision in a list and answers everything by brute force. The model test drives
 * it and an MvccStore with the same random operations and demands identical answers.
 */
import { compareBytes, toHex } from '../../src/base/index.js';
import type {
  ChangeSet, Compare, KeyValue, MvccErrorCode, RangeRequest, RequestOp,
} from '../../src/mvcc/index.js';

type Space = Map<string, KeyValue>;

export class Model {
  /** states[r] is the key space at revision r (states[0] unused, states[1] empty). */
  readonly states: Space[] = [new Map(), new Map()];
  compacted = -1;

  get current(): number {
    return this.states.length - 1;
  }

  private space(): Space {
    return this.states[this.current]!;
  }

  static inRange(k: Uint8Array, key: Uint8Array, end: Uint8Array | undefined): boolean {
    if (end === undefined || end.length === 0) return compareBytes(k, key) === 0;
    if (end.length === 1 && end[0] === 0) return compareBytes(k, key) >= 0;
    return compareBytes(k, key) >= 0 && compareBytes(k, end) < 0;
  }

  select(space: Space, key: Uint8Array, end: Uint8Array | undefined): KeyValue[] {
    return [...space.values()].filter((kv) => Model.inRange(kv.key, key, end))
      .sort((a, b) => compareBytes(a.key, b.key));
  }

  range(r: RangeRequest, current = this.current, space?: Space):
    { code: MvccErrorCode } | { kvs: KeyValue[]; more: boolean; count: number } {
    const rev = (r.revision ?? 0) > 0 ? r.revision! : current;
    if (rev > current) return { code: 'ErrFutureRev' };
    if (rev < this.compacted) return { code: 'ErrCompacted' };
    const all = this.select(space ?? this.states[rev]!, r.key, r.rangeEnd);
    if (r.countOnly === true) return { kvs: [], more: false, count: all.length };
    let kvs = all.filter((kv) =>
      !((r.minModRevision ?? 0) > 0 && kv.modRevision < r.minModRevision!)
      && !((r.maxModRevision ?? 0) > 0 && kv.modRevision > r.maxModRevision!)
      && !((r.minCreateRevision ?? 0) > 0 && kv.createRevision < r.minCreateRevision!)
      && !((r.maxCreateRevision ?? 0) > 0 && kv.createRevision > r.maxCreateRevision!));
    const target = r.sortTarget ?? 'KEY';
    let order = r.sortOrder ?? 'NONE';
    if (order === 'NONE' && target !== 'KEY') order = 'ASCEND';
    if (order !== 'NONE') {
      const sign = order === 'ASCEND' ? 1 : -1;
      const field = (kv: KeyValue): number => target === 'VERSION' ? kv.version
        : target === 'CREATE' ? kv.createRevision : kv.modRevision;
      if (target === 'KEY') kvs = sign > 0 ? kvs : kvs.reverse();
      else if (target === 'VALUE') kvs.sort((a, b) => sign * compareBytes(a.value, b.value));
      else kvs.sort((a, b) => sign * (field(a) - field(b)));
    }
    const limit = r.limit ?? 0;
    const more = limit > 0 && kvs.length > limit;
    if (more) kvs = kvs.slice(0, limit);
    if (r.keysOnly === true) kvs = kvs.map((kv) => ({ ...kv, value: new Uint8Array(0) }));
    return { kvs, more, count: all.length };
  }

  holds(c: Compare): boolean {
    const kvs = this.select(this.space(), c.key, c.rangeEnd);
    const cmp = (a: number | bigint, b: number | bigint): number => (a < b ? -1 : a > b ? 1 : 0);
    const test = (x: number): boolean => c.result === 'EQUAL' ? x === 0
      : c.result === 'NOT_EQUAL' ? x !== 0 : c.result === 'GREATER' ? x > 0 : x < 0;
    const want = (): number | bigint => c.target === 'VERSION' ? c.version ?? 0
      : c.target === 'CREATE' ? c.createRevision ?? 0 : c.target === 'MOD' ? c.modRevision ?? 0
        : c.lease ?? 0n;
    if (kvs.length === 0) return c.target === 'VALUE' ? false : test(cmp(0, want()));
    return kvs.every((kv) => {
      if (c.target === 'VALUE') return test(compareBytes(kv.value, c.value ?? new Uint8Array(0)));
      const stored = c.target === 'VERSION' ? kv.version : c.target === 'CREATE'
        ? kv.createRevision : c.target === 'MOD' ? kv.modRevision : kv.lease;
      return test(cmp(stored, want()));
    });
  }

  /**
   * Applies one write (a flat list of puts and deletes, as a Txn branch or a single request) and
   * returns its change set, or undefined if nothing changed.
   */
  apply(ops: readonly RequestOp[]): { change: ChangeSet | undefined; results: unknown[] } {
    const next: Space = new Map(this.space());
    const rev = this.current + 1;
    const events: ChangeSet['events'][number][] = [];
    const results: unknown[] = [];
    for (const op of ops) {
      const changed = events.length > 0 ? rev : this.current;
      if (op.requestPut !== undefined) {
        const p = op.requestPut;
        const prev = next.get(toHex(p.key));
        const kv: KeyValue = {
          key: p.key, value: p.value, lease: p.lease ?? 0n, modRevision: rev,
          createRevision: prev?.createRevision ?? rev, version: (prev?.version ?? 0) + 1,
        };
        next.set(toHex(p.key), kv);
        events.push(prev === undefined ? { type: 'PUT', kv } : { type: 'PUT', kv, prevKv: prev });
        results.push({ put: rev, prevKv: p.prevKv === true ? prev : undefined });
      } else if (op.requestDeleteRange !== undefined) {
        const d = op.requestDeleteRange;
        const gone = this.select(next, d.key, d.rangeEnd);
        for (const prev of gone) {
          next.delete(toHex(prev.key));
          events.push({
            type: 'DELETE',
            kv: {
              key: prev.key, value: new Uint8Array(0), lease: 0n, modRevision: rev,
              createRevision: 0, version: 0,
            },
            prevKv: prev,
          });
        }
        results.push({
          deleted: gone.length, rev: gone.length > 0 ? rev : changed,
          prevKvs: d.prevKv === true ? gone : [],
        });
      } else if (op.requestRange !== undefined) {
        const cur = events.length > 0 ? rev : this.current;
        const r = op.requestRange;
        const rr = (r.revision ?? 0) > 0 ? this.range(r) : this.range(r, cur, next);
        results.push(rr);
      }
    }
    if (events.length === 0) return { change: undefined, results };
    this.states.push(next);
    return { change: { revision: rev, events }, results };
  }

  compact(rev: number): MvccErrorCode | undefined {
    if (rev <= this.compacted) return 'ErrCompacted';
    if (rev > this.current) return 'ErrFutureRev';
    this.compacted = rev;
    return undefined;
  }
}
