/**
 * The HPACK codec behind the gRPC server's HTTP/2 connections (src/runtime/node/h2-hpack.ts), on
 * bytes alone, no sockets:
 * - the decoder reproduces RFC 7541 Appendix C.3/C.4 (one context across three requests, the
 *   later ones indexing the dynamic table) and a header block captured from etcdctl 3.4's
 *   grpc-go, whose Huffman-coded :authority is `http://127.0.0.1:24499`;
 * - `decodeHeaders` gives a request's headers as node:http2 did: a null-prototype object, repeated
 *   names joined with ", ";
 * - Huffman encode matches the RFC's strings, decode(encode(s)) = s for random latin1 strings,
 *   and bad padding / EOS are refused; the encoder round-trips random fields and never makes
 *   the receiver add a dynamic-table entry.
 */
import t from 'tap';
import fc from 'fast-check';
import {
  HpackDecoder, HpackError, encodeHeaderBlock, huffmanDecode, huffmanEncode,
} from '../../src/runtime/node/h2-hpack.js';
import type { HeaderField } from '../../src/runtime/node/h2-hpack.js';


const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const pairs = (fields: readonly HeaderField[]): string[] => fields.map((f) => `${f.name}: ${f.value}`);

/** etcdctl 3.4.23 `endpoint status --endpoints=http://127.0.0.1:24499`: its first HEADERS frame. */
const GRPC_GO_HEADERS = hex(`0000770104000000018386459760a924882d9dcb6571afa066a925a87510ac6e48d36a3f41909d29aee30c
  044eae05c0b86e09a69f7f5f8b1d75d0620d263d4c4d65647a8b9acac8b4c7602bb2caecff40027465864d833505b11f40899acac8b24d494f6a7f
  8669f79e780cdb408d25062d495875996ee5b1063d5f03332e34`);

t.test('the decoder reproduces RFC 7541 C.3.1 and C.4.1-3, one context across requests', async (t) => {
  t.same(pairs(new HpackDecoder().decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'))),
    [':method: GET', ':scheme: http', ':path: /', ':authority: www.example.com']);
  const d = new HpackDecoder();
  t.same(pairs(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'))),
    [':method: GET', ':scheme: http', ':path: /', ':authority: www.example.com']);
  t.equal(d.tableLength, 1);
  t.same(pairs(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf'))),
    [':method: GET', ':scheme: http', ':path: /', ':authority: www.example.com', 'cache-control: no-cache']);
  t.equal(d.tableLength, 2);
  t.same(pairs(d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'))),
    [':method: GET', ':scheme: https', ':path: /index.html', ':authority: www.example.com', 'custom-key: custom-value']);
  t.equal(d.tableLength, 3);
  t.throws(() => new HpackDecoder().decode(hex('be')), HpackError, 'a dynamic index into an empty table');
  t.throws(() => new HpackDecoder().decode(hex('80')), HpackError, 'index 0');
  t.throws(() => new HpackDecoder().decode(hex('8220')), HpackError, 'a size update after a field');
  t.throws(() => new HpackDecoder().decode(hex('0085 6162')), HpackError, 'a string past the block');
});

t.test('a grpc-go header block from etcdctl decodes, its :authority carrying the scheme', async (t) => {
  const payload = GRPC_GO_HEADERS.subarray(9);
  const fields = new HpackDecoder().decode(payload);
  t.same(pairs(fields).slice(0, 4), [':method: POST', ':scheme: http', ':path: /etcdserverpb.Maintenance/Status',
    ':authority: http://127.0.0.1:24499']);
  t.ok(fields.some((f) => f.name === 'user-agent' && f.value.startsWith('grpc-go/')));
});

t.test('Huffman: the RFC strings, round trips, and refused paddings', async (t) => {
  t.equal(huffmanEncode('www.example.com').toString('hex'), 'f1e3c2e5f23a6ba0ab90f4ff');
  t.equal(huffmanEncode('no-cache').toString('hex'), 'a8eb10649cbf');
  t.equal(huffmanEncode('custom-key').toString('hex'), '25a849e95ba97d7f');
  const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
  t.equal(huffmanDecode(huffmanEncode(all)), all, 'every octet');
  fc.assert(fc.property(fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 64 }),
    (s) => huffmanDecode(huffmanEncode(s)) === s), { seed: 7541, numRuns: 300 });
  t.throws(() => huffmanDecode(hex('ff')), HpackError, '8 bits of padding');
  t.throws(() => huffmanDecode(hex('fe')), HpackError, 'padding with a zero bit');
  t.throws(() => huffmanDecode(hex('ffff ffff')), HpackError, 'EOS');
  t.equal(huffmanDecode(hex('')), '');
});

t.test('the encoder round-trips and never indexes', async (t) => {
  const latin1 = fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 40 });
  const field = fc.record({
    name: fc.oneof(fc.constantFrom(':authority', ':method', ':path', 'content-type', 'te', 'grpc-timeout'), latin1),
    value: fc.oneof(fc.constantFrom('POST', 'GET', '/', 'trailers', 'gzip, deflate'), latin1),
    sensitive: fc.boolean(),
  });
  fc.assert(fc.property(fc.array(field, { maxLength: 12 }), (fields) => {
    const d = new HpackDecoder();
    const back = d.decode(encodeHeaderBlock(fields));
    return d.tableLength === 0 && JSON.stringify(back) === JSON.stringify(fields);
  }), { seed: 42, numRuns: 300 });
  t.equal(encodeHeaderBlock([{ name: ':method', value: 'POST', sensitive: false }]).toString('hex'), '83',
    'a whole static match is its index');
  t.equal(encodeHeaderBlock([{ name: 'x', value: 'y', sensitive: true }]).toString('hex'), '1001780179',
    'a sensitive field stays never-indexed');
});

t.test('decodeHeaders: a null-prototype object, repeated names joined as node:http2 joins them', async (t) => {
  const block = encodeHeaderBlock([
    { name: ':path', value: '/a/B', sensitive: false }, { name: 'x-two', value: '1', sensitive: false },
    { name: 'x-two', value: '2', sensitive: true }, { name: '__proto__', value: 'v', sensitive: false },
  ]);
  const headers = new HpackDecoder().decodeHeaders(block);
  t.equal(Object.getPrototypeOf(headers), null);
  t.same({ ...headers }, { ':path': '/a/B', 'x-two': '1, 2', ['__proto__']: 'v' });
  const d = new HpackDecoder();
  t.same({ ...d.decodeHeaders(GRPC_GO_HEADERS.subarray(9)) }[':authority'], 'http://127.0.0.1:24499',
    'etcdctl\'s scheme-carrying authority decodes as it is');
});

t.test('decodeHeaders caches a repeated block only while the dynamic table stands still', async (t) => {
  const d = new HpackDecoder();
  const plain = encodeHeaderBlock([{ name: ':path', value: '/kv/Range', sensitive: false }]);
  const first = d.decodeHeaders(plain);
  t.ok(Object.isFrozen(first), 'frozen: calls share it');
  t.equal(d.decodeHeaders(Buffer.from(plain)), first, 'the same bytes again: the cached object');
  // "x: 1" with incremental indexing becomes dynamic entry 62; "be" refers to it.
  t.same({ ...d.decodeHeaders(hex('40 0178 0131')) }, { x: '1' });
  const byIndex = hex('be');
  t.same({ ...d.decodeHeaders(byIndex) }, { x: '1' });
  t.same({ ...d.decodeHeaders(hex('40 0178 0132')) }, { x: '2' }, 'a new entry shifts the table');
  t.same({ ...d.decodeHeaders(byIndex) }, { x: '2' }, 'the same bytes now mean the newer entry');
  t.not(d.decodeHeaders(plain), first, 'the cache was cleared by the change');
});
