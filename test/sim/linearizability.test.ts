/**
 * The linearizability checker on hand-made histories (src/sim/linearizability.ts). Linearizable
 * histories pass: sequential ones, overlapping writes read in either order, a write whose outcome
 * is unknown taking effect late or never, a Txn whose compare decides. Known non-linearizable
 * ones fail, each with an explanation naming the operation that cannot fit and why: a stale read
 * (a read after a completed write returns the older value), a lost write (an acknowledged write
 * never visible, an older value read back), a read of a value nobody wrote, a Txn whose outcome
 * contradicts its compare, reads that see two writes in opposite orders. Also: the search is
 * split per key, and it gives up (never passes) beyond its step budget.
 */
import t from 'tap';
import { checkLinearizable, type KvHistoryOp, type KvOp, type KvOutput } from '../../src/sim/index.js';

let nextId = 1;
function op(client: number, o: KvOp, callMs: number, returnMs: number, output: KvOutput | null): KvHistoryOp {
  return { id: nextId++, client, op: o, callMs, returnMs, output };
}
const put = (c: number, key: string, value: string, a: number, b: number): KvHistoryOp =>
  op(c, { kind: 'put', key, value }, a, b, { kind: 'put' });
const get = (c: number, key: string, value: string | null, a: number, b: number): KvHistoryOp =>
  op(c, { kind: 'get', key }, a, b, { kind: 'get', value });

t.test('linearizable histories pass', async (t) => {
  t.equal(checkLinearizable([]).ok, true, 'the empty history');
  t.equal(checkLinearizable([put(0, 'k', 'a', 0, 1), get(1, 'k', 'a', 2, 3), get(1, 'x', null, 2, 3)]).ok, true,
    'sequential put then get, and an absent key');
  t.equal(checkLinearizable([
    put(0, 'k', 'a', 0, 10), put(1, 'k', 'b', 1, 9), get(2, 'k', 'a', 11, 12), get(2, 'k', 'a', 13, 14),
  ]).ok, true, 'overlapping writes may take effect in either order (b then a)');
  t.equal(checkLinearizable([
    op(0, { kind: 'put', key: 'k', value: 'a' }, 0, Infinity, null), get(1, 'k', null, 1, 2), get(1, 'k', 'a', 50, 51),
  ]).ok, true, 'a write of unknown outcome may take effect late');
  t.equal(checkLinearizable([
    op(0, { kind: 'put', key: 'k', value: 'a' }, 0, Infinity, null), get(1, 'k', null, 10, 11), get(1, 'k', null, 50, 51),
  ]).ok, true, 'a write of unknown outcome may never take effect');
  t.equal(checkLinearizable([
    put(0, 'k', 'a', 0, 1),
    op(1, { kind: 'cas', key: 'k', expect: 'a', value: 'b' }, 2, 3, { kind: 'cas', succeeded: true }),
    op(2, { kind: 'cas', key: 'k', expect: 'a', value: 'c' }, 4, 5, { kind: 'cas', succeeded: false }),
    op(0, { kind: 'delete', key: 'k' }, 6, 7, { kind: 'delete', deleted: 1 }),
    op(0, { kind: 'delete', key: 'k' }, 8, 9, { kind: 'delete', deleted: 0 }),
    get(1, 'k', null, 10, 11),
  ]).ok, true, 'Txns and deletes whose outputs follow the compare');
});

t.test('a stale read fails, naming the read and the current value', async (t) => {
  const v = checkLinearizable([put(0, 'k', 'a', 0, 1), put(0, 'k', 'b', 2, 3), get(1, 'k', 'a', 4, 5)]);
  t.equal(v.ok, false);
  if (v.ok !== false) return;
  t.equal(v.key, 'k');
  t.match(v.explanation, /get k -> a: a read of a where b is current \(stale or lost write\)/);
  t.match(v.explanation, /longest linearizable prefix has 2 of 3/);
});

t.test('a lost write fails: acknowledged, then never seen', async (t) => {
  const v = checkLinearizable([
    put(0, 'k', 'a', 0, 1), put(1, 'k', 'b', 2, 3), get(2, 'k', 'a', 10, 11), get(2, 'k', 'a', 12, 13),
  ]);
  t.equal(v.ok, false);
  if (v.ok !== false) return;
  t.match(v.explanation, /read of a where b is current/);
});

t.test('a read of a value nobody wrote fails', async (t) => {
  const v = checkLinearizable([put(0, 'k', 'a', 0, 1), get(1, 'k', 'zzz', 2, 3)]);
  t.equal(v.ok, false);
});

t.test('a Txn whose outcome contradicts its compare fails', async (t) => {
  const v = checkLinearizable([
    put(0, 'k', 'a', 0, 1),
    op(1, { kind: 'cas', key: 'k', expect: 'a', value: 'b' }, 2, 3, { kind: 'cas', succeeded: false }),
  ]);
  t.equal(v.ok, false);
  if (v.ok !== false) return;
  t.match(v.explanation, /the txn failed but its compare holds/);
});

t.test('two readers seeing concurrent writes in opposite orders fails', async (t) => {
  const v = checkLinearizable([
    put(0, 'k', 'a', 0, 100), put(1, 'k', 'b', 0, 100),
    get(2, 'k', 'a', 10, 11), get(2, 'k', 'b', 12, 13),
    get(3, 'k', 'b', 14, 15), get(3, 'k', 'a', 16, 17),
  ]);
  t.equal(v.ok, false);
});

t.test('keys are checked separately; a violation names its key', async (t) => {
  const v = checkLinearizable([
    put(0, 'x', '1', 0, 1), get(0, 'x', '1', 2, 3), put(0, 'y', '2', 0, 1), get(1, 'y', null, 5, 6),
  ]);
  t.equal(v.ok, false);
  if (v.ok === false) t.equal(v.key, 'y');
});

t.test('the search gives up beyond its budget instead of passing', async (t) => {
  const ops: KvHistoryOp[] = [];
  for (let i = 0; i < 14; i++) ops.push(put(i, 'k', `v${i}`, 0, 100));
  ops.push(get(99, 'k', 'nobody', 200, 201));
  const v = checkLinearizable(ops, 1_000);
  t.equal(v.ok, 'unknown');
});
