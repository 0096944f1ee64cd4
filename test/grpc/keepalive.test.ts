/**
 * Proves the connection-level behaviour of the gRPC server: it pings a connection that has been
 * idle for keepaliveTimeMs (etcd: every 2 h, shortened here to 100 ms), it does not GOAWAY a
 * client that pings aggressively (etcd clients ping often), and it closes a connection whose
 * peer stops answering pings within keepaliveTimeoutMs. A raw node:http2 client on
 * 127.0.0.1:0 observes the frames. Also proves the deframer assembles messages split at every
 * byte boundary, including split frame headers.
 */
import http2 from 'node:http2';
import t from 'tap';
import { Deframer, isOneFrame } from '../../src/runtime/node/grpc-frames.js';
import { GrpcServer } from '../../src/runtime/node/grpc-server.js';

async function started(keepaliveTimeMs: number, keepaliveTimeoutMs: number): Promise<{
  server: GrpcServer; url: string }> {
  const server = new GrpcServer({ keepaliveTimeMs, keepaliveTimeoutMs });
  const port = await server.listen(0, '127.0.0.1');
  return { server, url: `http://127.0.0.1:${port}` };
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(
    () => reject(new Error(`timed out waiting for ${what}`)), ms).unref())]);
}

t.test('an idle connection is pinged by the server', async (t) => {
  const { server, url } = await started(100, 5_000);
  t.teardown(() => server.close());
  const session = http2.connect(url);
  t.teardown(() => session.destroy());
  const pinged = new Promise<void>((resolve) => session.once('ping', () => resolve()));
  await within(pinged, 5_000, 'a server ping');
  t.notOk(session.closed, 'the connection stays open after answering');
});

t.test('a client pinging every 20 ms is not sent away', async (t) => {
  const { server, url } = await started(7_200_000, 20_000);
  t.teardown(() => server.close());
  const session = http2.connect(url);
  t.teardown(() => session.destroy());
  await within(new Promise((resolve) => session.once('connect', resolve)), 5_000, 'connect');
  let goaway = false;
  session.on('goaway', () => { goaway = true; });
  for (let i = 0; i < 25; i++) {
    await within(new Promise<void>((resolve, reject) => {
      session.ping((err) => (err === null ? resolve() : reject(err)));
    }), 5_000, 'a ping ack');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  t.notOk(goaway, 'no GOAWAY');
  t.notOk(session.closed);
});

t.test('a peer that never answers pings is disconnected', async (t) => {
  const { server, url } = await started(50, 100);
  t.teardown(() => server.close());
  // A raw socket that completes the HTTP/2 preface and then goes silent: it never ACKs a PING.
  const net = await import('node:net');
  const { port } = new URL(url);
  const socket = net.connect(Number(port), '127.0.0.1');
  t.teardown(() => socket.destroy());
  socket.on('error', () => {});
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
    Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
  socket.resume();
  await within(new Promise<void>((resolve) => socket.once('close', () => resolve())), 5_000,
    'the server to close the silent connection');
  t.pass('closed');
});

t.test('the deframer assembles messages split anywhere', async (t) => {
  const payloads = [Buffer.alloc(0), Buffer.from([1, 2, 3]), Buffer.alloc(300, 9)];
  const wire = Buffer.concat(payloads.map((p) => {
    const h = Buffer.alloc(5);
    h.writeUInt32BE(p.length, 1);
    return Buffer.concat([h, p]);
  }));
  for (let cut = 0; cut <= wire.length; cut++) {
    for (const step of [1, 7]) {
      const d = new Deframer(1024);
      const got: Buffer[] = [];
      const pieces = [wire.subarray(0, cut), ...chunks(wire.subarray(cut), step)];
      const errors = pieces.map((piece) => d.push(piece, (m) => got.push(Buffer.from(m))));
      if (errors.some((e) => e !== undefined) || got.length !== payloads.length || !got.every((g, i) => g.equals(payloads[i]!))) {
        t.fail(`cut ${cut} step ${step}`);
        return;
      }
      if (!d.idle) t.fail(`cut ${cut} step ${step} left a partial message`);
    }
  }
  t.pass(`every cut of ${wire.length} bytes, in steps of 1 and 7`);
  const small = new Deframer(10);
  t.match(small.push(Buffer.from([0, 0, 0, 0, 11]), () => {}),
    { grpcCode: 8, message: 'grpc: received message larger than max (11 vs. 10)' });
  t.match(new Deframer(10).push(Buffer.from([2, 0, 0, 0, 0]), () => {}), { grpcCode: 13 });
});

t.test('a chunk is one frame only if it is exactly one whole, uncompressed, allowed frame', async (t) => {
  const frame = (flag: number, length: number, body: number): Buffer => {
    const b = Buffer.alloc(5 + body);
    b[0] = flag;
    b.writeUInt32BE(length, 1);
    return b;
  };
  t.ok(isOneFrame(frame(0, 3, 3), 10));
  t.ok(isOneFrame(frame(0, 0, 0), 10), 'an empty message');
  t.notOk(isOneFrame(frame(0, 3, 2), 10), 'a partial frame');
  t.notOk(isOneFrame(frame(0, 3, 4), 10), 'a frame and more');
  t.notOk(isOneFrame(frame(1, 3, 3), 10), 'compressed: the deframer refuses it');
  t.notOk(isOneFrame(frame(0, 11, 11), 10), 'too large: the deframer refuses it');
  t.notOk(isOneFrame(Buffer.from([0, 0, 0]), 10), 'a partial prefix');
});

function chunks(b: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}
