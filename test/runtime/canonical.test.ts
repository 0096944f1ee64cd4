/**
 * The canonical encoding and trace hash: equal plain data gives equal bytes whatever the key
 * order, different data gives different bytes, the streaming hash equals FNV-1a of the encoded
 * bytes (property-checked over generated values with bigints and byte arrays), known FNV-1a
 * vectors hold, and values that are not plain data are refused. Also the small pure parts:
 * the event heap orders by (time, seq), the run queue is FIFO across growth, ConsoleLogger
 * prints etcd-style JSON lines above its minimum level.
 */
import t from 'tap';
import fc from 'fast-check';
import { AssertionError, SeededRng, utf8 } from '../../src/base/index.js';
import {
  CanonicalHasher, EventHeap, RunQueue, canonicalEncode, canonicalHash, fnv1a32, hashHex,
} from '../../src/runtime/index.js';
import { ConsoleLogger } from '../../src/runtime/node/index.js';

t.test('FNV-1a 32 matches its published vectors', async (t) => {
  t.equal(hashHex(fnv1a32(new Uint8Array(0))), '811c9dc5');
  t.equal(hashHex(fnv1a32(utf8('a'))), 'e40c292c');
  t.equal(hashHex(fnv1a32(utf8('foobar'))), 'bf9cf968');
});

t.test('key order does not matter; values, types and nesting do', async (t) => {
  const a = { type: 'x', n: 1, nested: { b: 2n, a: Uint8Array.of(1, 2) } };
  const b = { nested: { a: Uint8Array.of(1, 2), b: 2n }, n: 1, type: 'x' };
  t.same(canonicalEncode(a), canonicalEncode(b));
  const distinct = [1, '1', 1n, true, null, undefined, 1.5, [1], { a: 1 }, Uint8Array.of(1), 'é', '😀',
    -0.5, 2 ** 40, [], {}, ''];
  const encodings = new Set(distinct.map((v) => Buffer.from(canonicalEncode(v)).toString('hex')));
  t.equal(encodings.size, distinct.length, 'every value encodes differently');
  t.not(canonicalHash([1, [2]]), canonicalHash([[1], 2]), 'nesting is part of the encoding');
});

t.test('the streaming hash equals FNV-1a of the encoded bytes', async (t) => {
  const leaf = fc.oneof(fc.integer(), fc.double(), fc.string(), fc.bigInt(), fc.boolean(),
    fc.constant(null), fc.uint8Array({ maxLength: 8 }));
  const value = fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('v'), { maxLength: 4 }),
      fc.dictionary(fc.string({ maxLength: 4 }), tie('v'), { maxKeys: 4 })),
  })).v;
  fc.assert(fc.property(value, (v) => canonicalHash(v) === fnv1a32(canonicalEncode(v))));
  t.pass('property held');
});

t.test('the per-type key cache is not fooled by same-typed messages with other keys', async (t) => {
  const x = canonicalHash({ type: 'm', z: 1, a: 2 });
  const hasher = canonicalHash({ type: 'm', z: 1, b: 2 });
  t.not(x, hasher);
  t.equal(canonicalHash({ type: 'm', z: 1, a: 2 }), x);
  const one = new CanonicalHasher();
  const hashOf = (v: unknown): number => {
    one.reset();
    one.value(v);
    return one.hash;
  };
  // One hasher, so the remembered layout of type 'm' is reused and then replaced.
  const first = hashOf({ type: 'm', z: 1, a: 2 });
  t.equal(hashOf({ a: 2, type: 'm', z: 1 }), first, 'another key order, same hash');
  t.equal(hashOf({ type: 'm', z: 1, a: 2 }), first, 'back to the first order');
  t.not(hashOf({ type: 'm', z: 1, a: 2, b: 3 }), first, 'an extra key counts');
  t.not(hashOf({ type: 'm', z: 1 }), first, 'a missing key counts');
  t.equal(hashOf({ type: 'm', z: 1, a: 2 }), first);
});

t.test('values that are not plain data are refused', async (t) => {
  t.throws(() => canonicalEncode(new Map()), AssertionError);
  t.throws(() => canonicalEncode({ f: () => 1 }), AssertionError);
  t.throws(() => canonicalEncode(new Date(0)), AssertionError);
  t.throws(() => canonicalEncode(Symbol('s')), AssertionError);
});

t.test('the event heap pops in (time, seq) order', async (t) => {
  const heap = new EventHeap<{ time: number; seq: number }>(10_000);
  const rng = new SeededRng(3);
  const items = Array.from({ length: 2_000 }, (_, seq) => ({ time: rng.int(0, 50), seq }));
  for (const item of items) heap.push(item);
  heap.removeWhere((item) => item.seq % 7 === 0);
  const popped: { time: number; seq: number }[] = [];
  for (let item = heap.pop(); item !== undefined; item = heap.pop()) popped.push(item);
  const expected = items.filter((i) => i.seq % 7 !== 0)
    .sort((a, b) => a.time - b.time || a.seq - b.seq);
  t.same(popped, expected);
});

t.test('the run queue is FIFO across growth and refuses to pass its maximum', async (t) => {
  const q = new RunQueue<string, number>(4_096, 2);
  const out: number[] = [];
  for (let i = 0; i < 3_000; i++) {
    q.push('a', i);
    if (i % 3 === 0) out.push(q.shiftItem());
  }
  while (q.peekTarget() !== undefined) out.push(q.shiftItem());
  t.same(out, Array.from({ length: 3_000 }, (_, i) => i));
  const small = new RunQueue<string, number>(4, 4);
  for (let i = 0; i < 4; i++) small.push('a', i);
  t.throws(() => small.push('a', 4), AssertionError);
});

t.test('ConsoleLogger writes JSON lines with etcd level names above its minimum', async (t) => {
  const lines: string[] = [];
  const logger = new ConsoleLogger({ minLevel: 'info', sink: (l) => lines.push(l), wallClockMs: () => 0 })
    .child({ member: 'm1' });
  logger.debug('hidden');
  logger.info('hello', { lease: 7587869348572348923n, key: Uint8Array.of(0xab) });
  logger.error('bad');
  t.equal(lines.length, 2);
  t.ok(lines.every((l) => l.endsWith('\n')));
  t.same(JSON.parse(lines[0]!), {
    level: 'info', ts: '1970-01-01T00:00:00.000Z', msg: 'hello', member: 'm1',
    lease: '7587869348572348923', key: 'ab',
  });
  t.equal(JSON.parse(lines[1]!).level, 'error');
});
