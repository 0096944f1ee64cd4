/**
 * etcdctl's per-endpoint maintenance commands with the scheme in `--endpoints`
 * (`http://127.0.0.1:PORT`): grpc-go then sends `:authority: http://127.0.0.1:PORT`, which
 * nghttp2 resets with PROTOCOL_ERROR unless the client port relays the connection with the scheme
 * stripped (src/runtime/node/h2-authority.ts). Proves, through the real etcdctl against a strata
 * process, that endpoint status, endpoint hashkv, alarm list and defrag succeed and agree with the
 * scheme-less endpoint; and, in process, that only a scheme authority is relayed: a plain one
 * (the hot path) and an idle connection reach node:http2 as the raw net.Socket.
 */
import t, { type Test } from 'tap';
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
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

/** A port over a GrpcServer with no services (every call answers Unimplemented) that records what it handed over. */
async function recordingPort(t: Test): Promise<{ url: string; handed: Duplex[] }> {
  const grpc = new GrpcServer();
  const handed: Duplex[] = [];
  const port = new ClientPort({
    grpc: { acceptConnection: (s) => { handed.push(s); grpc.acceptConnection(s as net.Socket); }, close: () => grpc.close() },
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

t.test('only a scheme authority is relayed; plain and idle connections get the raw socket', async (t) => {
  const { url, handed } = await recordingPort(t);

  const plain = http2.connect(url);
  t.teardown(() => plain.destroy());
  t.equal(await call(plain), '200 grpc-status 12', 'a plain authority is served');
  t.equal(handed.length, 1);
  t.ok(handed[0] instanceof net.Socket, 'the hot path hands node the raw socket');

  const schemed = http2.connect(url);
  t.teardown(() => schemed.destroy());
  t.equal(await call(schemed, `${url}`), '200 grpc-status 12', 'a scheme authority is served, not reset');
  t.equal(await call(schemed, `${url}`), '200 grpc-status 12', 'and so is a second request on it');
  t.equal(handed.length, 2);
  t.notOk(handed[1] instanceof net.Socket, 'that connection goes through the relay');

  // A connection that sends no request is handed over raw after the wait, then serves normally.
  const idle = http2.connect(url);
  t.teardown(() => idle.destroy());
  await new Promise<void>((resolve) => idle.once('remoteSettings', () => resolve()));
  for (let i = 0; i < 100 && handed.length < 3; i++) await new Promise((r) => setTimeout(r, 100));
  t.equal(handed.length, 3, 'the idle connection was handed over');
  t.ok(handed[2] instanceof net.Socket, 'raw');
  t.equal(await call(idle, `${url}`), 'reset 1', 'a later scheme authority meets nghttp2 as before (PROTOCOL_ERROR)');
  t.equal(await call(idle), '200 grpc-status 12', 'and the connection still serves plain requests');
});
