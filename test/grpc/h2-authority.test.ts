/**
 * The HPACK codec and the :authority rewrite behind the client port's HTTP/2 sniff
 * (src/runtime/node/h2-hpack.ts, h2-authority.ts), on bytes alone, no sockets:
 * - the decoder reproduces RFC 7541 Appendix C.3/C.4 (one context across three requests, the
 *   later ones indexing the dynamic table) and a header block captured from etcdctl 3.4's
 *   grpc-go, whose Huffman-coded :authority is `http://127.0.0.1:24499`;
 * - Huffman encode matches the RFC's strings, decode(encode(s)) = s for random latin1 strings,
 *   and bad padding / EOS are refused; the encoder round-trips random fields and never makes
 *   the receiver add a dynamic-table entry;
 * - AuthorityRewriter, fed a hand-made client stream cut at every offset, strips the scheme from
 *   a Huffman-coded, incrementally indexed :authority and from a second request that refers to
 *   it by dynamic index, keeps other frames byte for byte, drops padding, keeps priority, and
 *   splits an oversized block into CONTINUATIONs within the max frame size;
 * - H2Sniffer decides only after both our SETTINGS ACK and the first header block, cuts that
 *   ACK from the replay, and falls back to `plain` on malformed or unbounded input.
 */
import t from 'tap';
import fc from 'fast-check';
import {
  AuthorityRewriter, DEFAULT_MAX_FRAME_SIZE, H2Sniffer, H2_PREFACE, MAX_SNIFF_BYTES, stripScheme,
} from '../../src/runtime/node/h2-authority.js';
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

function frame(type: number, flags: number, streamId: number, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

interface Frame { type: number; flags: number; streamId: number; payload: Buffer }

function parseFrames(bytes: Buffer): Frame[] {
  const out: Frame[] = [];
  let at = 0;
  while (at < bytes.length) {
    const length = bytes.readUIntBE(at, 3);
    out.push({ type: bytes[at + 3]!, flags: bytes[at + 4]!, streamId: bytes.readUInt32BE(at + 5),
      payload: bytes.subarray(at + 9, at + 9 + length) });
    at += 9 + length;
  }
  if (at !== bytes.length) throw new Error('frames do not end on a frame boundary');
  return out;
}

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
  t.equal(stripScheme('http://127.0.0.1:24499'), '127.0.0.1:24499');
  t.equal(stripScheme('HTTPS://h:1/some/path'), 'h:1');
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

/** A client stream: request 1 indexes a Huffman :authority with a scheme, request 2 refers to it. */
function clientStream(): { bytes: Buffer; data: Buffer } {
  const hstr = (text: string): Buffer => {
    const h = huffmanEncode(text);
    if (h.length >= 127) throw new Error('the test wants one-octet lengths');
    return Buffer.concat([Buffer.from([0x80 | h.length]), h]);
  };
  // Each literal below is "with incremental indexing", so after it the client's dynamic table
  // is, newest first: te (62), content-type (63), :authority (64), :path (65).
  const block1 = Buffer.concat([hex('83 86'), hex('44'), hstr('/kv/Status'),
    hex('41'), hstr('http://127.0.0.1:2379'), hex('5f'), hstr('application/grpc'),
    hex('40 02 7465'), hstr('trailers')]);
  const block2 = hex('83 86 84 c0 bf be'); // :authority, content-type and te from the dynamic table
  const data = frame(0, 1, 1, hex('0000000000'));
  // Request 1: PADDED + PRIORITY HEADERS split into HEADERS + CONTINUATION.
  const pad = 3;
  const cut = 7;
  const first = Buffer.concat([Buffer.from([pad]), hex('00000000 0f'), block1.subarray(0, cut), Buffer.alloc(pad)]);
  const bytes = Buffer.concat([H2_PREFACE, frame(4, 0, 0, Buffer.alloc(0)), frame(8, 0, 0, hex('0000ffff')),
    frame(1, 0x08 | 0x20, 1, first), frame(9, 0x04, 1, block1.subarray(cut)), data,
    frame(1, 0x05, 3, block2)]);
  return { bytes, data };
}

function rewriteInPieces(bytes: Buffer, cuts: readonly number[], maxFrameSize = DEFAULT_MAX_FRAME_SIZE): Buffer {
  const r = new AuthorityRewriter(maxFrameSize);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts, bytes.length]) {
    out.push(...r.push(bytes.subarray(from, c)));
    from = c;
  }
  if (r.passthrough) throw new Error('the rewriter fell back to passthrough');
  return Buffer.concat(out);
}

t.test('the rewriter strips the scheme, tracks the client table, and cuts anywhere', async (t) => {
  const { bytes, data } = clientStream();
  const whole = rewriteInPieces(bytes, []);
  t.ok(whole.subarray(0, 24).equals(H2_PREFACE), 'the preface passes');
  const frames = parseFrames(whole.subarray(24));
  t.same(frames.map((f) => [f.type, f.flags, f.streamId]), [[4, 0, 0], [8, 0, 0], [1, 0x24, 1], [0, 1, 1], [1, 0x05, 3]],
    'SETTINGS, WINDOW_UPDATE, HEADERS (priority kept, padding dropped, CONTINUATION folded in), DATA, HEADERS');
  t.ok(frames[2]!.payload.subarray(0, 5).equals(hex('00000000 0f')), 'the priority bytes are kept');
  t.ok(Buffer.concat([hex('000005 00 01 00000001'), frames[3]!.payload]).equals(data), 'DATA byte for byte');
  const server = new HpackDecoder();
  t.same(pairs(server.decode(frames[2]!.payload.subarray(5))),
    [':method: POST', ':scheme: http', ':path: /kv/Status', ':authority: 127.0.0.1:2379',
      'content-type: application/grpc', 'te: trailers']);
  t.same(pairs(server.decode(frames[4]!.payload)),
    [':method: POST', ':scheme: http', ':path: /', ':authority: 127.0.0.1:2379',
      'content-type: application/grpc', 'te: trailers'], 'the second request resolved the client dynamic table');
  t.equal(server.tableLength, 0, 'the server table never gains an entry');
  let mismatches = 0;
  for (let a = 0; a <= bytes.length; a++) {
    for (const b of [a, Math.min(bytes.length, a + 1), Math.min(bytes.length, a + 13)]) {
      if (!rewriteInPieces(bytes, [a, b]).equals(whole)) mismatches++;
    }
  }
  t.equal(mismatches, 0, `every cut of ${bytes.length} bytes gives the same output`);
});

t.test('an oversized block is re-framed as HEADERS + CONTINUATIONs within the max frame size', async (t) => {
  const big = 'v'.repeat(40_000);
  const block = encodeHeaderBlock([{ name: ':authority', value: 'https://h:1', sensitive: false },
    { name: 'x-big', value: big, sensitive: false }]);
  const pieces: Buffer[] = [];
  for (let i = 0; i < block.length; i += DEFAULT_MAX_FRAME_SIZE) pieces.push(block.subarray(i, i + DEFAULT_MAX_FRAME_SIZE));
  const input = Buffer.concat([H2_PREFACE, ...pieces.map((p, i) =>
    frame(i === 0 ? 1 : 9, (i === pieces.length - 1 ? 0x04 : 0) | (i === 0 ? 0x01 : 0), 5, p))]);
  const frames = parseFrames(rewriteInPieces(input, [100, 20_000]).subarray(24));
  t.ok(frames.length >= 3 && frames.every((f) => f.payload.length <= DEFAULT_MAX_FRAME_SIZE), 'within the max frame size');
  t.same(frames.map((f) => f.type), [1, ...frames.slice(1).map(() => 9)]);
  t.equal(frames[0]!.flags, 0x01, 'END_STREAM stays on HEADERS');
  t.equal(frames.at(-1)!.flags, 0x04, 'END_HEADERS on the last CONTINUATION only');
  t.same(pairs(new HpackDecoder().decode(Buffer.concat(frames.map((f) => f.payload)))),
    [':authority: h:1', `x-big: ${big}`]);
});

t.test('malformed input makes the rewriter pass bytes through unchanged', async (t) => {
  const r = new AuthorityRewriter();
  const bad = Buffer.concat([frame(9, 0x04, 1, hex('82')), frame(0, 0, 1, hex('00'))]);
  const out = Buffer.concat([...r.push(H2_PREFACE), ...r.push(bad.subarray(0, 5)), ...r.push(bad.subarray(5))]);
  t.ok(out.equals(Buffer.concat([H2_PREFACE, bad])), 'a CONTINUATION without HEADERS passes as it came');
  t.ok(r.passthrough);
  const r2 = new AuthorityRewriter();
  const headers = frame(1, 0, 1, hex('82'));
  const broken = Buffer.concat([headers, frame(9, 0x04, 1, hex('be'))]);
  const out2 = Buffer.concat([...r2.push(Buffer.concat([H2_PREFACE, headers])), ...r2.push(broken.subarray(headers.length))]);
  t.ok(out2.equals(Buffer.concat([H2_PREFACE, broken])), 'an undecodable block, held across pushes, passes as it came');
});

t.test('the sniffer waits for our ACK and the first block, and falls back on anything odd', async (t) => {
  const ack = frame(4, 1, 0, Buffer.alloc(0));
  const settings = frame(4, 0, 0, hex('000300000064'));
  const schemeBlock = frame(1, 0x04, 1, GRPC_GO_HEADERS.subarray(9));
  const plainBlock = frame(1, 0x05, 1, hex('8286 84 41 0f 3132 372e 302e 302e 313a 3233 3739'));
  const s1 = new H2Sniffer();
  t.same(s1.push(Buffer.concat([H2_PREFACE, settings])), { kind: 'undecided' });
  t.same(s1.push(schemeBlock), { kind: 'undecided' }, 'no decision before the ACK');
  const d1 = s1.push(ack);
  t.equal(d1.kind, 'rewrite');
  if (d1.kind === 'rewrite') {
    t.equal(d1.authority, 'http://127.0.0.1:24499');
    t.ok(d1.replay.equals(Buffer.concat([H2_PREFACE, settings, schemeBlock])), 'the replay lacks our ACK');
  }
  const s2 = new H2Sniffer();
  const d2 = s2.push(Buffer.concat([H2_PREFACE, settings, ack, plainBlock, hex('0000')]));
  t.equal(d2.kind, 'plain');
  if (d2.kind === 'plain') t.ok(d2.replay.equals(Buffer.concat([H2_PREFACE, settings, plainBlock, hex('0000')])));
  const s3 = new H2Sniffer();
  t.equal(s3.push(Buffer.concat([H2_PREFACE, ack, frame(9, 4, 1, hex('82'))])).kind, 'plain', 'CONTINUATION first');
  const s4 = new H2Sniffer();
  t.equal(s4.push(Buffer.concat([H2_PREFACE, hex('ffffff 00 00 00000000')])).kind, 'plain', 'an oversized frame');
  const s5 = new H2Sniffer();
  let d5 = s5.push(Buffer.concat([H2_PREFACE, ack]));
  for (let i = 0; d5.kind === 'undecided' && i < 100; i++) d5 = s5.push(frame(0, 0, 1, Buffer.alloc(16_000)));
  t.equal(d5.kind, 'plain', `more than ${MAX_SNIFF_BYTES} bytes without a request`);
  const s6 = new H2Sniffer();
  t.equal(s6.push(Buffer.concat([H2_PREFACE, ack])).kind, 'undecided');
  t.equal(s6.giveUp('idle').kind, 'plain');
  const s7 = new H2Sniffer();
  t.equal(s7.push(Buffer.concat([H2_PREFACE, ack, frame(1, 4, 1, hex('be'))])).kind, 'plain', 'an undecodable first block');
});
