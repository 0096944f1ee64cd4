/**
 * The Backend contract, as one suite that every implementation runs (hono's router suites are the
 * model): point reads and writes, ordered ranges both ways with every bound form, rollback on a
 * throw, writes in call order, snapshots that ignore later writes, byte ownership, and a
 * fast-check comparison against a plain sorted-map model.
 */
import fc from 'fast-check';
import type { Test } from 'tap';
import type { Backend, ReadTxn } from '../../src/backend/index.js';
import { compareBytes, toHex } from '../../src/base/index.js';

export const CONTRACT_TABLES = ['a', 'b'] as const;

const b = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);
const hexes = (txn: ReadTxn, table: string, options: Parameters<ReadTxn['range']>[1]): string[] =>
  [...txn.range(table, options)].map((e) => toHex(e.key));

export function backendContract(
  t: Test, name: string, make: () => Promise<{ backend: Backend; done: () => Promise<void> }>,
): void {
  t.test(`${name}: put, get, delete, tables are separate`, async (t) => {
    const { backend, done } = await make();
    await backend.write((w) => {
      w.put('a', b(1), b(10));
      w.put('b', b(1), b(20));
      t.same(w.get('a', b(1)), b(10), 'a write sees its own put');
    });
    backend.read((r) => {
      t.same(r.get('a', b(1)), b(10));
      t.same(r.get('b', b(1)), b(20));
      t.equal(r.get('a', b(2)), undefined);
    });
    const removed = await backend.write((w) => [w.delete('a', b(1)), w.delete('a', b(1))]);
    t.same(removed, [true, false], 'delete reports presence');
    backend.read((r) => t.equal(r.get('a', b(1)), undefined));
    await done();
  });

  t.test(`${name}: ranges are ordered by unsigned bytes, both ways, with bounds and limits`,
    async (t) => {
      const { backend, done } = await make();
      const keys = [b(0), b(0, 0), b(1), b(0x61), b(0x61, 0x62), b(0x7f), b(0x80), b(0xff),
        b(0xff, 0)];
      await backend.write((w) => {
        for (const k of [...keys].reverse()) w.put('a', k, k);
      });
      const all = keys.map(toHex);
      backend.read((r) => {
        t.same(hexes(r, 'a', {}), all, 'ascending');
        t.same(hexes(r, 'a', { reverse: true }), [...all].reverse(), 'descending');
        t.same(hexes(r, 'a', { start: b(0x61), end: b(0x80) }), ['61', '6162', '7f']);
        t.same(hexes(r, 'a', { start: b(0x61), end: b(0x80), reverse: true }),
          ['7f', '6162', '61'], 'reverse keeps start inclusive, end exclusive');
        t.same(hexes(r, 'a', { start: b(0x62), end: b(0x7f, 5), reverse: true }), ['7f'],
          'reverse from an absent end key');
        t.same(hexes(r, 'a', { start: b(0x60), reverse: true, limit: 2 }), ['ff00', 'ff']);
        t.same(hexes(r, 'a', { end: b(1), limit: 5 }), ['00', '0000']);
        t.same(hexes(r, 'a', { start: b(0x80), end: b(0x80) }), [], 'empty interval');
        t.same(hexes(r, 'a', { start: b(0x90), end: b(0x10) }), [], 'inverted interval');
        t.same(hexes(r, 'b', {}), [], 'other table empty');
      });
      await done();
    });

  t.test(`${name}: a throw rolls back that write only; writes apply in call order`, async (t) => {
    const { backend, done } = await make();
    const first = backend.write((w) => w.put('a', b(1), b(1)));
    const failed = backend.write((w) => {
      w.put('a', b(2), b(2));
      w.put('a', b(1), b(99));
      w.delete('a', b(1));
      throw new Error('boom');
    });
    const third = backend.write((w) => {
      const seen = w.get('a', b(1));
      w.put('a', b(3), seen === undefined ? b(0) : seen.slice());
    });
    await first;
    await t.rejects(failed, /boom/);
    await third;
    backend.read((r) => {
      t.same(r.get('a', b(1)), b(1), 'the failed write left key 1 alone');
      t.equal(r.get('a', b(2)), undefined, 'the failed write left nothing behind');
      t.same(r.get('a', b(3)), b(1), 'the third write saw the first one');
    });
    await done();
  });

  t.test(`${name}: a read view is a snapshot; caller buffers may be reused`, async (t) => {
    const { backend, done } = await make();
    const buffer = b(5, 5);
    await backend.write((w) => {
      w.put('a', b(1), buffer);
      buffer[0] = 9;
    });
    backend.read((r) => t.same(r.get('a', b(1)), b(5, 5), 'put copied the value'));
    const view = backend.read((r) => {
      const before = [...r.range('a', {})].length;
      return before;
    });
    const kept = backend.read((r) => [...r.range('a', {})]);
    await backend.write((w) => w.put('a', b(2), b(2)));
    await backend.write((w) => w.put('a', b(1), b(6, 6)));
    t.equal(view, 1);
    t.same(kept.map((e) => [...e.key, ...e.value]), [[1, 5, 5]],
      'range entries stay valid and unchanged after later writes');
    const got = backend.read((r) => {
      const first = r.get('a', b(1));
      r.get('a', b(2));
      return first;
    });
    await backend.write((w) => w.put('a', b(1), b(7, 7)));
    t.same(got, b(6, 6), 'get results stay valid after later gets and writes');
    backend.read((r) => t.equal([...r.range('a', {})].length, 2));
    await done();
  });

  t.test(`${name}: peek, where offered, sees what get sees, in reads and in writes`, async (t) => {
    const { backend, done } = await make();
    await backend.write((w) => {
      w.put('a', b(1), b(1, 2, 3));
      w.put('a', b(2), b(4));
    });
    backend.read((r) => {
      if (r.peek === undefined) return;
      t.same(r.peek('a', b(1)), b(1, 2, 3), 'peek returns exactly the value');
      t.same(r.peek('a', b(2)), b(4), 'a shorter value after a longer one has its own length');
      t.equal(r.peek('a', b(3)), undefined, 'a missing key');
    });
    await backend.write((w) => {
      w.put('a', b(3), b(5, 5));
      if (w.peek === undefined) return;
      t.same(w.peek('a', b(3)), b(5, 5), 'peek inside a write sees the write');
    });
    await done();
  });

  t.test(`${name}: random operations match a sorted-map model`, async (t) => {
    const key = fc.uint8Array({ minLength: 1, maxLength: 3, max: 4 });
    const op = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), key, value: fc.uint8Array({ maxLength: 3 }) }),
      fc.record({ kind: fc.constant('del' as const), key }),
      fc.record({
        kind: fc.constant('range' as const), start: fc.option(key, { nil: undefined }),
        end: fc.option(key, { nil: undefined }), reverse: fc.boolean(),
        limit: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
      }),
    );
    await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
      const { backend, done } = await make();
      const model = new Map<string, Uint8Array>();
      try {
        for (const o of ops) {
          if (o.kind === 'put') {
            await backend.write((w) => w.put('a', o.key, o.value));
            model.set(toHex(o.key), o.value);
          } else if (o.kind === 'del') {
            const had = await backend.write((w) => w.delete('a', o.key));
            if (had !== model.delete(toHex(o.key))) return false;
          } else {
            const got = backend.read((r) => [...r.range('a', o)].map(
              (e) => `${toHex(e.key)}=${toHex(e.value)}`));
            const keys = [...model.keys()].map((h) => Buffer.from(h, 'hex'))
              .filter((k) => (o.start === undefined || compareBytes(k, o.start) >= 0)
                && (o.end === undefined || compareBytes(k, o.end) < 0))
              .sort(compareBytes);
            if (o.reverse) keys.reverse();
            const want = keys.slice(0, o.limit ?? keys.length)
              .map((k) => `${toHex(k)}=${toHex(model.get(toHex(k))!)}`);
            if (JSON.stringify(got) !== JSON.stringify(want)) return false;
          }
        }
        return true;
      } finally {
        await done();
      }
    }), { numRuns: 40, seed: 4242 });
    t.pass('model agreed');
  });
}
