/**
 * ByteRing: records come out in order and intact across many wrap-arounds, a record that does not
 * fit is refused without writing anything, and one over half the ring is never accepted.
 */
import t from 'tap';
import { ByteRing } from '../../src/runtime/node/byte-ring.js';

t.test('records survive wrap-around in order, a full ring refuses', (t) => {
  const ring = new ByteRing(ByteRing.allocate(256));
  let written = 0;
  let read = 0;
  let seed = 7;
  const next = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  const record = (n: number): Uint8Array => {
    const bytes = new Uint8Array(n % 60);
    bytes.fill(n & 0xff);
    return bytes;
  };
  let refused = 0;
  for (let round = 0; round < 2_000; round++) {
    while (next() % 3 !== 0) {
      if (!ring.write(record(written))) {
        refused++;
        break;
      }
      written++;
    }
    if (next() % 2 === 0) {
      ring.drain((bytes) => {
        const want = record(read++);
        if (bytes.length !== want.length || !bytes.every((b, i) => b === want[i])) {
          t.fail(`record ${read - 1} corrupt`);
        }
      });
    }
  }
  ring.drain(() => read++);
  t.equal(read, written, 'every written record is read once');
  t.ok(written > 2_000, `many records went round (${written})`);
  t.ok(refused > 0, 'a full ring refused some');
  t.end();
});

t.test('a record over half the ring is never accepted', (t) => {
  const ring = new ByteRing(ByteRing.allocate(256));
  t.equal(ring.recordMax, 124);
  t.notOk(ring.write(new Uint8Array(125)));
  t.ok(ring.write(new Uint8Array(124)));
  t.equal(ring.drain(() => undefined), 1);
  t.end();
});
