/**
 * The gRPC server's own HTTP/2 connection (src/runtime/node/h2-connection.ts), driven frame by
 * frame from a raw socket on 127.0.0.1:0, for what well-behaved clients never show:
 * - a request split as PADDED + PRIORITY HEADERS and a CONTINUATION, its Huffman :authority
 *   carrying etcdctl's `http://` scheme and indexed, then a second request naming it from the
 *   dynamic table, both delivered byte by byte: both answered, headers + DATA + OK trailers;
 * - flow control: a response larger than the client's stream window stops at the window and
 *   resumes on WINDOW_UPDATE; DATA frames never pass 16,384 bytes; trailers come last;
 * - a server stream of 1 MiB messages that waits for drained() whenever write says so finishes:
 *   a writer is woken whether the socket drains later or took the bytes at once;
 * - PING is answered with its payload; SETTINGS are ACKed;
 * - SETTINGS_MAX_CONCURRENT_STREAMS: a stream over the limit is refused (REFUSED_STREAM);
 * - a client RST_STREAM aborts the handler; a client that opens and resets streams faster than
 *   RESETS_PER_SECOND_MAX ("rapid reset") is sent away with ENHANCE_YOUR_CALM;
 * - 300 seeded runs of random frames (any type, flags, stream and payload, sometimes a valid
 *   request among them) never reach an internal error: every connection either serves or ends
 *   with a protocol-level answer, and the server keeps serving;
 * - protocol errors (DATA on stream 0, an oversized frame, a broken header block, an HPACK bomb) end the
 *   connection with GOAWAY and the right code, a bad preface closes it, and the server goes on
 *   serving new connections.
 */
import net from 'node:net';
import fc from 'fast-check';
import t from 'tap';
import type { Logger } from '../../src/base/index.js';
import { GrpcServer, serverStream, unary } from '../../src/runtime/node/grpc-server.js';
import type { GrpcServerOptions } from '../../src/runtime/node/grpc-server.js';
import { H2_PREFACE, H2Code, RESETS_PER_SECOND_MAX } from '../../src/runtime/node/h2-connection.js';
import { HpackDecoder, encodeHeaderBlock, huffmanEncode } from '../../src/runtime/node/h2-hpack.js';

const DATA = 0; const HEADERS = 1; const RST_STREAM = 3; const SETTINGS = 4; const PING = 6;
const GOAWAY = 7; const WINDOW_UPDATE = 8; const CONTINUATION = 9;
const END_STREAM = 1; const ACK = 1; const END_HEADERS = 4; const PADDED = 8; const PRIORITY = 0x20;

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const bytesCodec = { encode: (b: Uint8Array): Uint8Array => b, decode: (b: Uint8Array): Uint8Array => Uint8Array.from(b) };

function frame(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

function grpcMessage(body: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

function requestBlock(path: string, extra: Record<string, string> = {}): Buffer {
  return encodeHeaderBlock(Object.entries({
    ':method': 'POST', ':scheme': 'http', ':path': path, ':authority': '127.0.0.1',
    'content-type': 'application/grpc', te: 'trailers', ...extra,
  }).map(([name, value]) => ({ name, value, sensitive: false })));
}

interface Frame { type: number; flags: number; streamId: number; payload: Buffer }

/** A raw HTTP/2 client: sends bytes, collects the server's frames in order. */
class Peer {
  readonly frames: Frame[] = [];
  readonly #decoder = new HpackDecoder();
  #buf = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  closed = false;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, chunk]);
      while (this.#buf.length >= 9) {
        const length = this.#buf.readUIntBE(0, 3);
        if (this.#buf.length < 9 + length) break;
        this.frames.push({ type: this.#buf[3]!, flags: this.#buf[4]!, streamId: this.#buf.readUInt32BE(5),
          payload: this.#buf.subarray(9, 9 + length) });
        this.#buf = this.#buf.subarray(9 + length);
      }
      this.#wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake?.();
    });
    socket.on('error', () => undefined);
  }

  static async open(port: number, settings: Buffer = Buffer.alloc(0)): Promise<Peer> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const peer = new Peer(socket);
    socket.write(Buffer.concat([H2_PREFACE, frame(SETTINGS, 0, 0, settings)]));
    return peer;
  }

  /** Removes and returns the first frame that matches, waiting up to 5 s for it. */
  async take(match: (f: Frame) => boolean, what: string): Promise<Frame> {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const i = this.frames.findIndex(match);
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      if (this.closed) throw new Error(`connection closed before ${what}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 50).unref();
      });
    }
  }

  headers(f: Frame): Record<string, string> {
    return { ...this.#decoder.decodeHeaders(f.payload) };
  }

  /** One whole unary answer on `id`: headers, the DATA bytes, trailers. */
  async answer(id: number): Promise<{ headers: Record<string, string>; body: Buffer; trailers: Record<string, string> }> {
    const h = await this.take((f) => f.type === HEADERS && f.streamId === id, `headers on ${id}`);
    const headers = this.headers(h);
    const chunks: Buffer[] = [];
    for (;;) {
      const f = await this.take((x) => x.streamId === id && (x.type === DATA || x.type === HEADERS), `data on ${id}`);
      if (f.type === DATA) {
        chunks.push(f.payload);
        continue;
      }
      if (!(f.flags & END_STREAM)) throw new Error('trailers without END_STREAM');
      return { headers, body: Buffer.concat(chunks), trailers: this.headers(f) };
    }
  }

  async goaway(): Promise<{ lastStreamId: number; code: number }> {
    const f = await this.take((x) => x.type === GOAWAY, 'GOAWAY');
    return { lastStreamId: f.payload.readUInt32BE(0), code: f.payload.readUInt32BE(4) };
  }
}

async function started(t: { teardown(fn: () => unknown): void }, options: GrpcServerOptions = {}): Promise<{ port: number; aborted: string[] }> {
  const server = new GrpcServer(options);
  const aborted: string[] = [];
  server.addService('test.T', {
    Echo: unary(bytesCodec, bytesCodec, (req) => req),
    Big: unary(bytesCodec, bytesCodec, (req) => {
      const n = Buffer.from(req).readUInt32BE(0);
      return Uint8Array.from({ length: n }, (_, i) => i & 0xff);
    }),
    Flood: serverStream(bytesCodec, bytesCodec, async (req, call) => {
      // Messages of 1 MiB, honouring back-pressure: each write may leave the socket congested.
      for (let i = 0; i < Buffer.from(req).readUInt8(0); i++) {
        if (!call.write(new Uint8Array(1 << 20).fill(i))) await call.drained();
      }
    }),
    Hang: serverStream(bytesCodec, bytesCodec, async (req, call) => {
      call.write(req);
      await new Promise<void>((resolve) => call.signal.addEventListener('abort', () => resolve()));
      aborted.push(Buffer.from(req).toString());
    }),
  });
  const port = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  return { port, aborted };
}

t.test('split, padded, prioritized header blocks and a dynamic-table authority, fed byte by byte', async (t) => {
  const { port } = await started(t);
  const hstr = (text: string): Buffer => {
    const h = huffmanEncode(text);
    return Buffer.concat([Buffer.from([0x80 | h.length]), h]);
  };
  // Literals "with incremental indexing": afterwards the client's dynamic table is, newest
  // first: te (62), content-type (63), :authority (64), :path (65).
  const block1 = Buffer.concat([hex('83 86'), hex('44'), hstr('/test.T/Echo'),
    hex('41'), hstr('http://127.0.0.1:2379'), hex('5f'), hstr('application/grpc'),
    hex('40 02 7465'), hstr('trailers')]);
  const block2 = hex('83 86 c1 c0 bf be');
  const pad = 3;
  const cut = 7;
  const first = Buffer.concat([Buffer.from([pad]), hex('00000000 0f'), block1.subarray(0, cut), Buffer.alloc(pad)]);
  const bytes = Buffer.concat([H2_PREFACE, frame(SETTINGS, 0, 0), frame(WINDOW_UPDATE, 0, 0, hex('0000ffff')),
    frame(HEADERS, PADDED | PRIORITY, 1, first), frame(CONTINUATION, END_HEADERS, 1, block1.subarray(cut)),
    frame(DATA, END_STREAM | PADDED, 1, Buffer.concat([Buffer.from([2]), grpcMessage(Buffer.from('one')), Buffer.alloc(2)])),
    frame(HEADERS, END_HEADERS, 3, block2), frame(DATA, END_STREAM, 3, grpcMessage(Buffer.from('two')))]);
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const peer = new Peer(socket);
  t.teardown(() => socket.destroy());
  for (let i = 0; i < bytes.length; i++) {
    socket.write(bytes.subarray(i, i + 1));
    if (i % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const settings = await peer.take((f) => f.type === SETTINGS && !(f.flags & ACK), 'server SETTINGS');
  t.equal(settings.payload.length % 6, 0);
  await peer.take((f) => f.type === SETTINGS && (f.flags & ACK) !== 0, 'SETTINGS ACK');
  for (const [id, text] of [[1, 'one'], [3, 'two']] as const) {
    const a = await peer.answer(id);
    t.same(a.headers, { ':status': '200', 'content-type': 'application/grpc' });
    t.same(a.body, grpcMessage(Buffer.from(text)), `stream ${id} echoed`);
    t.same(a.trailers, { 'grpc-status': '0' });
  }
  t.notOk(peer.frames.some((f) => f.type === RST_STREAM || f.type === GOAWAY), 'no reset, no GOAWAY');
});

t.test('DATA waits for the client window, stays within 16 KiB frames, trailers last', async (t) => {
  const { port } = await started(t);
  // INITIAL_WINDOW_SIZE = 1000 for streams.
  const peer = await Peer.open(port, hex('0004 000003e8'));
  t.teardown(() => peer.socket.destroy());
  const size = Buffer.alloc(4);
  size.writeUInt32BE(40_000);
  peer.socket.write(Buffer.concat([frame(HEADERS, END_HEADERS, 1, requestBlock('/test.T/Big')),
    frame(DATA, END_STREAM, 1, grpcMessage(size))]));
  await peer.take((f) => f.type === HEADERS && f.streamId === 1, 'response headers');
  const first = await peer.take((f) => f.type === DATA && f.streamId === 1, 'first DATA');
  t.equal(first.payload.length, 1000, 'exactly the stream window');
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.notOk(peer.frames.some((f) => f.streamId === 1), 'nothing more until the window grows');
  const grant = Buffer.alloc(4);
  grant.writeUInt32BE(100_000);
  peer.socket.write(frame(WINDOW_UPDATE, 0, 1, grant));
  let received = first.payload.length;
  const chunks = [first.payload];
  for (;;) {
    const f = await peer.take((x) => x.streamId === 1 && (x.type === DATA || x.type === HEADERS), 'more');
    if (f.type === HEADERS) {
      t.same(peer.headers(f), { 'grpc-status': '0' });
      t.ok(f.flags & END_STREAM);
      break;
    }
    t.ok(f.payload.length <= 16_384, 'a DATA frame within the default max frame size');
    received += f.payload.length;
    chunks.push(f.payload);
  }
  t.equal(received, 40_005, 'the whole gRPC message');
  const body = Buffer.concat(chunks).subarray(5);
  t.equal(body[39_999], 39_999 & 0xff);
});

t.test('PING is answered with its payload', async (t) => {
  const { port } = await started(t);
  const peer = await Peer.open(port);
  t.teardown(() => peer.socket.destroy());
  peer.socket.write(frame(PING, 0, 0, hex('0102030405060708')));
  const ack = await peer.take((f) => f.type === PING, 'PING ACK');
  t.equal(ack.flags & ACK, ACK);
  t.same(ack.payload, hex('0102030405060708'));
});

t.test('a stream over SETTINGS_MAX_CONCURRENT_STREAMS is refused', async (t) => {
  const { port, aborted } = await started(t, { streamsPerConnectionMax: 1 });
  const peer = await Peer.open(port);
  t.teardown(() => peer.socket.destroy());
  const settings = await peer.take((f) => f.type === SETTINGS && !(f.flags & ACK), 'server SETTINGS');
  t.same(settings.payload.subarray(0, 6), hex('0003 00000001'), 'the limit is announced');
  peer.socket.write(Buffer.concat([frame(HEADERS, END_HEADERS, 1, requestBlock('/test.T/Hang')),
    frame(DATA, END_STREAM, 1, grpcMessage(Buffer.from('h1')))]));
  await peer.take((f) => f.type === DATA && f.streamId === 1, 'the first stream answers');
  peer.socket.write(frame(HEADERS, END_HEADERS | END_STREAM, 3, requestBlock('/test.T/Echo')));
  const rst = await peer.take((f) => f.type === RST_STREAM && f.streamId === 3, 'RST_STREAM');
  t.equal(rst.payload.readUInt32BE(0), H2Code.REFUSED_STREAM);
  // The client cancels stream 1: the handler sees its signal abort.
  peer.socket.write(frame(RST_STREAM, 0, 1, hex('00000008')));
  const deadline = Date.now() + 5_000;
  while (aborted.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  t.same(aborted, ['h1'], 'the reset aborted the handler');
  // Its slot is free again.
  peer.socket.write(Buffer.concat([frame(HEADERS, END_HEADERS, 5, requestBlock('/test.T/Echo')),
    frame(DATA, END_STREAM, 5, grpcMessage(Buffer.from('again')))]));
  const a = await peer.answer(5);
  t.same(a.trailers, { 'grpc-status': '0' });
});

t.test('protocol errors end the connection with GOAWAY; the server goes on', async (t) => {
  const { port } = await started(t);
  const cases: [string, Buffer, number][] = [
    ['DATA on stream 0', frame(DATA, 0, 0, Buffer.from('x')), H2Code.PROTOCOL_ERROR],
    ['a frame over 16,384 bytes', frame(DATA, 0, 1, Buffer.alloc(16_385)), H2Code.FRAME_SIZE_ERROR],
    ['a header block indexing past the table', frame(HEADERS, END_HEADERS, 1, hex('ff ff 00')), H2Code.COMPRESSION_ERROR],
    ['HEADERS on an even stream', frame(HEADERS, END_HEADERS, 2, requestBlock('/test.T/Echo')), H2Code.PROTOCOL_ERROR],
    ['a window update of 0', frame(WINDOW_UPDATE, 0, 0, hex('00000000')), H2Code.PROTOCOL_ERROR],
    ['a CONTINUATION out of nowhere', frame(CONTINUATION, END_HEADERS, 1, hex('82')), H2Code.PROTOCOL_ERROR],
    // An HPACK bomb: one 4 KiB entry added to the dynamic table, then named 4,000 times (16 MiB).
    ['a header list that decodes past its limit', frame(HEADERS, END_HEADERS, 1, Buffer.concat([
      hex('40 0178'), Buffer.from([0x7f, 0x81, 0x1e]), Buffer.alloc(3_968, 0x61), Buffer.alloc(4_000, 0xbe)])),
    H2Code.COMPRESSION_ERROR],
  ];
  for (const [what, bytes, code] of cases) {
    const peer = await Peer.open(port);
    peer.socket.write(bytes);
    const g = await peer.goaway();
    t.equal(g.code, code, what);
    peer.socket.destroy();
  }
  const bad = net.connect(port, '127.0.0.1');
  bad.on('error', () => undefined);
  bad.resume();
  bad.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise((resolve) => bad.once('close', resolve));
  t.pass('a connection without the preface is closed');
  const peer = await Peer.open(port);
  t.teardown(() => peer.socket.destroy());
  peer.socket.write(Buffer.concat([frame(HEADERS, END_HEADERS, 1, requestBlock('/test.T/Echo')),
    frame(DATA, END_STREAM, 1, grpcMessage(Buffer.from('still here')))]));
  const a = await peer.answer(1);
  t.same(a.body, grpcMessage(Buffer.from('still here')));
});

t.test('a server stream that waits for drained() is always woken', async (t) => {
  const { port } = await started(t);
  // Windows of 2^31-1 for the stream and the connection: only the socket holds data back.
  const peer = await Peer.open(port, hex('0004 7fffffff'));
  t.teardown(() => peer.socket.destroy());
  peer.socket.write(frame(WINDOW_UPDATE, 0, 0, hex('7fff0000')));
  peer.socket.write(Buffer.concat([frame(HEADERS, END_HEADERS, 1, requestBlock('/test.T/Flood')),
    frame(DATA, END_STREAM, 1, grpcMessage(Buffer.from([24])))]));
  let bytes = 0;
  for (;;) {
    const f = await peer.take((x) => x.streamId === 1 && (x.type === DATA || (x.type === HEADERS && (x.flags & END_STREAM) !== 0)), 'DATA or trailers');
    if (f.type === HEADERS) {
      t.same(peer.headers(f), { 'grpc-status': '0' });
      break;
    }
    bytes += f.payload.length;
  }
  t.equal(bytes, 24 * ((1 << 20) + 5), 'every message arrived');
});

t.test('opening and resetting streams faster than the reset budget ends the connection', async (t) => {
  const { port } = await started(t);
  const peer = await Peer.open(port);
  t.teardown(() => peer.socket.destroy());
  const frames: Buffer[] = [];
  for (let i = 0; i < RESETS_PER_SECOND_MAX * 2; i++) {
    const id = 2 * i + 1;
    frames.push(frame(HEADERS, END_HEADERS, id, requestBlock('/test.T/Hang')), frame(RST_STREAM, 0, id, hex('00000008')));
  }
  peer.socket.write(Buffer.concat(frames));
  const g = await peer.goaway();
  t.equal(g.code, H2Code.ENHANCE_YOUR_CALM);
  t.ok(g.lastStreamId > RESETS_PER_SECOND_MAX, 'a burst of the budget passed first');
});

t.test('random frames never reach an internal error, and the server keeps serving', async (t) => {
  const errors: string[] = [];
  const logger: Logger = {
    debug: () => undefined, info: () => undefined, warn: () => undefined,
    error: (message: string, fields?: object) => { errors.push(`${message} ${JSON.stringify(fields)}`); },
    child: () => logger,
  };
  const { port } = await started(t, { logger });
  const anyFrame = fc.record({
    type: fc.integer({ min: 0, max: 11 }), flags: fc.integer({ min: 0, max: 255 }),
    id: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 9 })),
    payload: fc.uint8Array({ maxLength: 64 }),
  }).map((f) => frame(f.type, f.flags, f.id, f.payload));
  const request = fc.integer({ min: 0, max: 4 }).map((k) => Buffer.concat([
    frame(HEADERS, END_HEADERS, 2 * k + 1, requestBlock('/test.T/Echo')),
    frame(DATA, END_STREAM, 2 * k + 1, grpcMessage(Buffer.from('x')))]));
  const runs = fc.sample(fc.array(fc.oneof(anyFrame, request), { minLength: 1, maxLength: 12 }),
    { seed: 7, numRuns: 300 });
  for (const frames of runs) {
    const peer = await Peer.open(port);
    peer.socket.write(Buffer.concat(frames));
    // The connection answers something (SETTINGS at least) and then either stays or goes away.
    await peer.take((f) => f.type === SETTINGS, 'server SETTINGS');
    await new Promise((resolve) => setImmediate(resolve));
    peer.socket.destroy();
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.same(errors, [], 'no internal error on any connection');
  const peer = await Peer.open(port);
  t.teardown(() => peer.socket.destroy());
  peer.socket.write(Buffer.concat([frame(HEADERS, END_HEADERS, 1, requestBlock('/test.T/Echo')),
    frame(DATA, END_STREAM, 1, grpcMessage(Buffer.from('after')))]));
  t.same((await peer.answer(1)).body, grpcMessage(Buffer.from('after')));
});
