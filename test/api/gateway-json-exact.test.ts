/**
 * The gateway reads 64-bit integers sent as bare JSON numbers without losing bits (etcd's own
 * e2e tests send lease ids that way), and leaves everything else as JSON.parse reads it.
 */
import t from 'tap';
import fc from 'fast-check';
import { parseJsonExact } from '../../src/api/index.js';

t.test('big integers become exact decimal strings', async (t) => {
  t.same(parseJsonExact('{"ID": 3720919927140781807, "TTL": 2}'), { ID: '3720919927140781807', TTL: 2 });
  t.same(parseJsonExact('{"a":-9223372036854775808}'), { a: '-9223372036854775808' });
  t.same(parseJsonExact('[9007199254740991, 9007199254740993]'), [9007199254740991, '9007199254740993']);
  t.same(parseJsonExact('{"s":"12345678901234567890 \\" 99999999999999999999"}'),
    { s: '12345678901234567890 " 99999999999999999999' }, 'not inside strings');
  t.same(parseJsonExact('{"f":1.5e300,"g":12345678901234567890.5}'), { f: 1.5e300, g: 12345678901234567890.5 },
    'non-integers are numbers');
  t.throws(() => parseJsonExact('{"a":}'), SyntaxError);
});

t.test('agrees with JSON.parse on anything without big integers', async (t) => {
  fc.assert(fc.property(fc.jsonValue(), (v) => {
    const text = JSON.stringify(v);
    if (/\d{16,}/.test(text)) return true;
    return JSON.stringify(parseJsonExact(text)) === JSON.stringify(JSON.parse(text));
  }), { numRuns: 500 });
  t.pass('property held');
});
