/**
 * etcd's --max-concurrent-streams on a running member: gRPC clients are told the limit in the
 * HTTP/2 SETTINGS of their connection, and the JSON gateway runs at most that many calls at once
 * (etcd's gateway reaches its gRPC server over one connection): with the limit's worth of watch
 * streams open, a range waits, and it is answered as soon as one watch ends. The waiting range
 * is checked only for not having been answered, which no machine speed can make pass wrongly.
 */
import t from 'tap';
import http2 from 'node:http2';
import { startStrata } from '../helpers/strata-server.js';

const LIMIT = 2;

t.test('--max-concurrent-streams bounds gRPC streams per connection and gateway calls', async (t) => {
  const s = await startStrata({ extraArgs: [`--max-concurrent-streams=${LIMIT}`] });
  t.teardown(() => s.stop());

  const session = http2.connect(s.clientUrl);
  const settings = await new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve));
  session.close();
  t.equal(settings.maxConcurrentStreams, LIMIT, 'the HTTP/2 SETTINGS carry the limit');

  const watches: AbortController[] = [];
  const openWatch = async (): Promise<void> => {
    const abort = new AbortController();
    const body = JSON.stringify({ create_request: { key: Buffer.from('foo').toString('base64') } });
    const r = await fetch(`${s.clientUrl}/v3/watch`, { method: 'POST', body, signal: abort.signal });
    const reader = r.body!.getReader();
    const first = await reader.read();
    t.match(Buffer.from(first.value!).toString(), /"created":true/, 'a watch is created');
    watches.push(abort);
  };
  const range = (): Promise<string> => fetch(`${s.clientUrl}/v3/kv/range`, {
    method: 'POST', body: JSON.stringify({ key: Buffer.from('foo').toString('base64') }),
  }).then((r) => r.text());

  await openWatch();
  t.match(await range(), /"revision":"1"/, 'below the limit a range is answered');
  await openWatch();
  let answered = false;
  const waiting = range().then((text) => {
    answered = true;
    return text;
  });
  await new Promise((r) => setTimeout(r, 500));
  t.notOk(answered, 'at the limit a range waits');
  watches[0]!.abort();
  t.match(await waiting, /"revision":"1"/, 'and is answered once a watch ends');
  watches[1]!.abort();
  t.match(await range(), /"revision":"1"/, 'the server keeps serving');
});
