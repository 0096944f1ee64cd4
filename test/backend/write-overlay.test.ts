/**
 * WriteOverlay against a model: batches are staged (some throw and are undone), commit to a
 * base in order and are released, and at every step reads of overlay-over-base (point reads and
 * ranges in both directions, with bounds and limits) equal a plain map of everything staged.
 */
import fc from 'fast-check';
import t from 'tap';
import { WriteOverlay } from '../../src/backend/index.js';
import type { BackendEntry, OverlayBatch, RangeOptions } from '../../src/backend/index.js';
import { compareBytes, toHex } from '../../src/base/index.js';

type Model = Map<string, Uint8Array>;

function rangeOfModel(model: Model, o: RangeOptions): BackendEntry[] {
  const keys = [...model.keys()].map((h) => Uint8Array.from(Buffer.from(h, 'hex')))
    .filter((k) => (o.start === undefined || compareBytes(k, o.start) >= 0)
      && (o.end === undefined || compareBytes(k, o.end) < 0))
    .sort(compareBytes);
  if (o.reverse === true) keys.reverse();
  return keys.slice(0, o.limit ?? keys.length).map((key) => ({ key, value: model.get(toHex(key))! }));
}

const show = (entries: Iterable<BackendEntry>): string[] =>
  [...entries].map((e) => `${toHex(e.key)}=${toHex(e.value)}`);

const b = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);

t.test('staged writes read through; release keeps what a later batch restaged', (t) => {
  const overlay = new WriteOverlay();
  const first = overlay.begin();
  overlay.stage(first, 'a', b(1), b(10));
  overlay.stage(first, 'a', b(2), b(20));
  overlay.end(first, true);
  const second = overlay.begin();
  overlay.stage(second, 'a', b(1), b(11));
  overlay.stage(second, 'a', b(3), null);
  overlay.end(second, true);
  t.equal(overlay.pendingBatches, 2);
  t.same(overlay.get('a', b(1)), b(11), 'the newest staged value');
  t.equal(overlay.get('a', b(3)), null, 'a staged deletion');
  t.equal(overlay.get('a', b(4)), undefined, 'not staged');
  t.equal(overlay.get('b', b(1)), undefined, 'another table');
  overlay.release([first]);
  t.same(overlay.get('a', b(1)), b(11), 'restaged by the second batch: kept');
  t.equal(overlay.get('a', b(2)), undefined, 'staged by the first batch alone: released');
  overlay.release([second]);
  t.equal(overlay.entries, 0);
  t.equal(overlay.pendingBatches, 0);
  t.end();
});

t.test('a batch that throws is undone, and leaves earlier batches as they were', (t) => {
  const overlay = new WriteOverlay();
  const kept = overlay.begin();
  overlay.stage(kept, 'a', b(1), b(10));
  overlay.end(kept, true);
  const undone = overlay.begin();
  overlay.stage(undone, 'a', b(1), b(99));
  overlay.stage(undone, 'a', b(1), null);
  overlay.stage(undone, 'a', b(2), b(20));
  overlay.end(undone, false);
  t.same(overlay.get('a', b(1)), b(10));
  t.equal(overlay.get('a', b(2)), undefined);
  t.equal(overlay.pendingBatches, 1, 'an undone batch waits for no commit');
  overlay.release([kept]);
  t.equal(overlay.entries, 0);
  t.throws(() => overlay.stage(undone, 'a', b(3), b(3)), /outside the open batch/);
  t.end();
});

t.test('overlay over base matches a model through staging, undoing, commits and reads', async (t) => {
  const key = fc.uint8Array({ minLength: 1, maxLength: 2, max: 5 });
  const write = fc.oneof(
    fc.record({ key, value: fc.uint8Array({ maxLength: 2 }) }),
    fc.record({ key, value: fc.constant(null) }),
  );
  const step = fc.oneof(
    fc.record({ kind: fc.constant('stage' as const), writes: fc.array(write, { maxLength: 4 }), throws: fc.boolean() }),
    fc.record({ kind: fc.constant('commit' as const), count: fc.integer({ min: 1, max: 3 }) }),
    fc.record({ kind: fc.constant('get' as const), key }),
    fc.record({
      kind: fc.constant('range' as const), start: fc.option(key, { nil: undefined }),
      end: fc.option(key, { nil: undefined }), reverse: fc.boolean(),
      limit: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    }),
  );
  fc.assert(fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
    const overlay = new WriteOverlay();
    const base: Model = new Map();
    const model: Model = new Map();
    const waiting: OverlayBatch[] = [];
    for (const s of [...steps, { kind: 'commit' as const, count: 1 }]) {
      if (s.kind === 'stage') {
        const batch = overlay.begin();
        for (const w of s.writes) overlay.stage(batch, 'a', w.key, w.value);
        overlay.end(batch, !s.throws);
        if (s.throws || batch.ops.length === 0) continue;
        for (const w of s.writes) {
          if (w.value === null) model.delete(toHex(w.key));
          else model.set(toHex(w.key), w.value);
        }
        waiting.push(batch);
      } else if (s.kind === 'commit') {
        // One commit may land several batches at once (one LMDB transaction per hand-over).
        const landed = waiting.splice(0, s.count);
        if (landed.length === 0) continue;
        for (const batch of landed) {
          for (const op of batch.ops) {
            if (op.value === null) base.delete(toHex(op.key));
            else base.set(toHex(op.key), op.value);
          }
        }
        overlay.release(landed);
      } else if (s.kind === 'get') {
        const staged = overlay.get('a', s.key);
        const got = staged === undefined ? base.get(toHex(s.key)) : staged ?? undefined;
        const want = model.get(toHex(s.key));
        if ((got === undefined) !== (want === undefined)) return false;
        if (got !== undefined && toHex(got) !== toHex(want!)) return false;
      } else {
        const got = overlay.range('a', s, (unlimited) => rangeOfModel(base, unlimited ? { ...s, limit: undefined } : s));
        if (JSON.stringify(show(got)) !== JSON.stringify(show(rangeOfModel(model, s)))) return false;
      }
    }
    overlay.release(waiting.splice(0));
    return overlay.entries === 0 && overlay.pendingBatches === 0;
  }), { numRuns: 300, seed: 7 });
  t.pass('overlay agreed with the model');
});
