/**
 * strata's watch extensions, from the seed, through a real gRPC client on the vendored protos:
 * `end_revision` (field 100: the watch delivers every event up to that revision, then ends by
 * itself with a canceled response) and `extra_ranges` (field 101: one watcher over several
 * ranges, each matching event delivered once). An etcd client that never sets them sees etcd's
 * behaviour.
 */
import t from 'tap';
import type * as grpc from '@grpc/grpc-js';
import { call, etcdClient } from '../grpc/fixture.js';
import { startStrata } from '../helpers/strata-server.js';

const b = (s: string): Buffer => Buffer.from(s);

interface Event { type: number; kv: { key: Buffer; mod_revision: string } }
interface Response { watch_id: string; created: boolean; canceled: boolean; cancel_reason: string; events: Event[] }

t.test('end_revision and extra_ranges', async (t) => {
  const s = await startStrata();
  t.teardown(() => s.stop());
  const kv = etcdClient('KV', s.endpoint);
  const watch = etcdClient('Watch', s.endpoint);
  t.teardown(() => { kv.close(); watch.close(); });
  const stream = (watch['Watch'] as () => grpc.ClientDuplexStream<unknown, Response>).call(watch);
  const got: Response[] = [];
  stream.on('data', (m) => got.push(m));
  stream.on('error', () => undefined);
  t.teardown(() => stream.cancel());
  const put = (k: string): Promise<unknown> => call(kv, 'Put', { key: b(k), value: b('v') });

  for (const k of ['a/1', 'b/1', 'c/1']) await put(k); // revisions 2, 3, 4
  stream.write({ create_request: { key: b('a/'), range_end: b('a0'), start_revision: 2, end_revision: 6 } });
  stream.write({
    create_request: {
      key: b('a/'), range_end: b('a0'), start_revision: 2,
      extra_ranges: [{ key: b('c/'), range_end: b('c0') }, { key: b('a/1') }],
    },
  });
  await put('a/2'); // 5
  await put('b/2'); // 6
  await put('a/3'); // 7: after the end revision
  await put('c/2'); // 8
  for (let i = 0; i < 300; i++) {
    if (got.filter((m) => m.watch_id === '1').flatMap((m) => m.events).length >= 5) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 200));

  const ended = got.filter((m) => m.watch_id === '0');
  const revs0 = ended.flatMap((m) => m.events.map((e) => Number(e.kv.mod_revision)));
  t.same(revs0, [2, 5], 'the end-revision watch delivered every event up to revision 6');
  const last = ended[ended.length - 1];
  t.ok(last?.canceled, 'and then ended by itself');
  t.match(last?.cancel_reason, /end revision/);

  const multi = got.filter((m) => m.watch_id === '1').flatMap((m) => m.events);
  t.same(multi.map((e) => `${e.kv.key.toString()}@${e.kv.mod_revision}`), ['a/1@2', 'c/1@4', 'a/2@5', 'a/3@7', 'c/2@8'],
    'the multi-range watch saw each matching event once, a/1 despite matching two of its ranges');
});
