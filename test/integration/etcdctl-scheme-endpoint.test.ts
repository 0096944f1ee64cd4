/**
 * etcdctl's per-endpoint maintenance commands with the scheme in `--endpoints`
 * (`http://127.0.0.1:PORT`): grpc-go then sends `:authority: http://127.0.0.1:PORT`, which
 * nghttp2 (node:http2) resets with PROTOCOL_ERROR; strata's own HTTP/2 connection
 * (src/runtime/node/h2-connection.ts) takes any authority, as Go's server does. Proves, through
 * the real etcdctl against a strata process, that endpoint status, endpoint hashkv, alarm list and
 * defrag succeed and agree with the scheme-less endpoint; and, in process through the client
 * port, that plain and scheme authorities are served alike on one connection, and that a
 * connection idle before its first request is served too.
 */
import t, { type Test } from 'tap';
import http2 from 'node:http2';
import net from 'node:net';
import { ClientPort } from '../../src/runtime/node/http-client-port.js';
import { GrpcServer } from '../../src/runtime/node/grpc-server.js';
import { etcdMissing, etcdctl } from '../helpers/real-etcd.js';
import { startStrata } from '../helpers/strata-server.js';

const skip = etcdMissing();

t.test('etcdctl maintenance commands with http:// endpoints succeed', { skip }, async (t) => {
  const s = await startStrata({ name: 'scheme' });
  t.teardown(() => s.stop());
  t.match(s.clientUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.equal((await etcdctl(s.clientUrl, ['put', 'k', 'v'])).code, 0);

  const status = await etcdctl(s.clientUrl, ['endpoint', 'status', '-w', 'json']);
  t.equal(status.code, 0, `endpoint status: ${status.stderr}`);
  const st = JSON.parse(status.stdout) as { Endpoint: string; Status: { header: { member_id: number } } }[];
  t.equal(st[0]?.Endpoint, s.clientUrl);
  const plain = JSON.parse((await etcdctl(s.endpoint, ['endpoint', 'status', '-w', 'json'])).stdout) as typeof st;
  t.equal(st[0]?.Status.header.member_id, plain[0]?.Status.header.member_id, 'the same member either way');

  const hash = await etcdctl(s.clientUrl, ['endpoint', 'hashkv', '-w', 'json']);
  t.equal(hash.code, 0, `endpoint hashkv: ${hash.stderr}`);
  const plainHash = await etcdctl(s.endpoint, ['endpoint', 'hashkv', '-w', 'json']);
  const h = (out: string): number | undefined => (JSON.parse(out) as { HashKV: { hash: number } }[])[0]?.HashKV.hash;
  t.equal(h(hash.stdout), h(plainHash.stdout), 'the same hash either way');

  const alarms = await etcdctl(s.clientUrl, ['alarm', 'list']);
  t.equal(alarms.code, 0, `alarm list: ${alarms.stderr}`);
  t.equal(alarms.stdout, '', 'no alarms');
  const defrag = await etcdctl(s.clientUrl, ['defrag']);
  t.equal(defrag.code, 0, `defrag: ${defrag.stderr}`);
  t.match(defrag.stdout, `Finished defragmenting etcd member[${s.clientUrl}]`);
  t.notMatch(status.stderr + hash.stderr + alarms.stderr + defrag.stderr, /RST_STREAM|PROTOCOL_ERROR/);
});

/** A client port over a GrpcServer with no services: every call answers Unimplemented. */
async function emptyPort(t: Test): Promise<{ url: string; handed: net.Socket[] }> {
  const grpc = new GrpcServer();
  const handed: net.Socket[] = [];
  const port = new ClientPort({
    grpc: { acceptConnection: (s, head) => { handed.push(s); grpc.acceptConnection(s, head); }, close: () => grpc.close() },
    http: (_req, res) => res.end(),
  });
  const n = await port.listen(0, '127.0.0.1');
  t.teardown(() => port.close());
  return { url: `http://127.0.0.1:${n}`, handed };
}

/** One unary-shaped request; resolves with the HTTP status and grpc-status, or the reset code. */
async function call(session: http2.ClientHttp2Session, authority?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'POST', ':path': '/etcdserverpb.Maintenance/Status', 'content-type': 'application/grpc', te: 'trailers',
      ...(authority === undefined ? {} : { ':authority': authority }),
    });
    let status = '';
    req.on('response', (h) => { status = `${h[':status']} grpc-status ${h['grpc-status'] ?? ''}`; });
    req.on('trailers', (h) => { status += String(h['grpc-status'] ?? ''); });
    req.on('close', () => resolve(req.rstCode === http2.constants.NGHTTP2_NO_ERROR ? status : `reset ${req.rstCode}`));
    req.on('error', () => {});
    req.on('data', () => {});
    req.end(Buffer.from([0, 0, 0, 0, 0]));
    setTimeout(() => reject(new Error('no answer in 10 s')), 10_000).unref();
  });
}

t.test('plain and scheme authorities are served alike, on fresh and idle connections', async (t) => {
  const { url, handed } = await emptyPort(t);

  const plain = http2.connect(url);
  t.teardown(() => plain.destroy());
  t.equal(await call(plain), '200 grpc-status 12', 'a plain authority is served');
  t.equal(await call(plain, url), '200 grpc-status 12', 'then a scheme authority on the same connection');

  const schemed = http2.connect(url);
  t.teardown(() => schemed.destroy());
  t.equal(await call(schemed, url), '200 grpc-status 12', 'a scheme authority first is served, not reset');
  t.equal(await call(schemed, url), '200 grpc-status 12', 'and so is a second request on it');

  // A connection that sends nothing after its preface is handed over at once and serves later.
  const idle = http2.connect(url);
  t.teardown(() => idle.destroy());
  await new Promise<void>((resolve) => idle.once('remoteSettings', () => resolve()));
  await new Promise((r) => setTimeout(r, 100));
  t.equal(await call(idle, url), '200 grpc-status 12', 'a scheme authority after a pause');
  t.equal(await call(idle), '200 grpc-status 12', 'and a plain one');
  t.equal(handed.length, 3, 'each connection handed over once');
  t.ok(handed.every((s) => s instanceof net.Socket), 'as the raw socket');
});
