/**
 * Watch through real clients. A differential test drives the same watch stream (a grpc-js client
 * on etcd's protos) against a real etcd and against strata and compares every response after
 * normalising ids and terms: created, history replay with prev_kv, live events one response per
 * revision, a client-chosen id, a duplicate id, a progress request, cancel (and cancel of an
 * unknown id, which gets no answer), filters, and a start revision below the compaction point.
 * Then etcdctl watch (--rev, --prefix, --prev-kv) and the etcd3 client's watcher.
 */
import t from 'tap';
import type * as grpc from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import { etcdMissing, etcdctl, etcdctlWatch, startRealEtcd } from '../helpers/real-etcd.js';
import { startStrata } from '../helpers/strata-server.js';
import { call, etcdClient } from '../grpc/fixture.js';

const skip = etcdMissing();
const b = (s: string): Buffer => Buffer.from(s);

interface Session {
  kv: ReturnType<typeof etcdClient>;
  stream: grpc.ClientDuplexStream<unknown, unknown>;
  received: unknown[];
  close(): void;
}

function open(endpoint: string): Session {
  const kv = etcdClient('KV', endpoint);
  const watch = etcdClient('Watch', endpoint);
  const stream = (watch['Watch'] as () => grpc.ClientDuplexStream<unknown, unknown>).call(watch);
  const received: unknown[] = [];
  stream.on('data', (m: unknown) => received.push(m));
  stream.on('error', () => { /* ended by close() */ });
  return { kv, stream, received, close: () => { stream.cancel(); kv.close(); watch.close(); } };
}

/** Waits until `n` responses arrived (or 3 s), then a little more to catch stray extras. */
async function settle(s: Session, n: number): Promise<void> {
  for (let i = 0; i < 300 && s.received.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 150));
}

function watchIdOf(m: unknown): number {
  return Number((m as { watch_id?: string }).watch_id ?? 0);
}

function normalise(m: unknown): string {
  return JSON.stringify(m)
    .replace(/"(cluster_id|member_id)":"\d+"/g, '"$1":"<id>"')
    .replace(/"raft_term":"\d+"/g, '"raft_term":"<term>"');
}

type Step = { put: [string, string]; expect: number } | { del: string; expect: number } | { compact: number }
  | { create: Record<string, unknown>; expect: number } | { cancel: number; expect: number }
  | { progress: true; expect: number };

const STEPS: readonly Step[] = [
  { put: ['a', '1'], expect: 0 }, { put: ['b', '2'], expect: 0 }, { put: ['a', '3'], expect: 0 },
  { del: 'b', expect: 0 },
  { create: { key: b('a'), start_revision: 1, prev_kv: true }, expect: 2 },
  { create: { key: b('a'), range_end: b('z'), watch_id: 7 }, expect: 1 },
  { create: { key: b('x'), watch_id: 7 }, expect: 1 },
  { put: ['a', '4'], expect: 2 },
  { put: ['c', '5'], expect: 1 },
  { progress: true, expect: 1 },
  { create: { key: b('c'), filters: [0] }, expect: 1 },
  { del: 'c', expect: 2 },
  { cancel: 7, expect: 1 },
  { cancel: 99, expect: 0 },
  { compact: 5 },
  { create: { key: b('a'), start_revision: 2 }, expect: 2 },
  { create: { key: b('a'), start_revision: 5 }, expect: 2 },
];

async function runSteps(endpoint: string): Promise<string[]> {
  const s = open(endpoint);
  try {
    const out: string[] = [];
    for (const step of STEPS) {
      const before = s.received.length;
      let expect = 1;
      if ('put' in step) {
        await call(s.kv, 'Put', { key: b(step.put[0]), value: b(step.put[1]) });
        expect = step.expect;
      } else if ('del' in step) {
        await call(s.kv, 'DeleteRange', { key: b(step.del) });
        expect = step.expect;
      } else if ('compact' in step) {
        await call(s.kv, 'Compact', { revision: String(step.compact), physical: true });
        expect = 0;
      } else if ('create' in step) {
        s.stream.write({ create_request: step.create });
        expect = step.expect;
      } else if ('cancel' in step) {
        s.stream.write({ cancel_request: { watch_id: String(step.cancel) } });
        expect = step.expect;
      } else {
        s.stream.write({ progress_request: {} });
        expect = step.expect;
      }
      await settle(s, before + expect);
      // Responses of different watchers to one revision may come in any order (etcd's own order
      // follows Go map iteration): compare them ordered by watch id, each watcher's in order.
      const byWatcher = s.received.slice(before).map((m, i) => ({ m, i }))
        .sort((x, y) => watchIdOf(x.m) - watchIdOf(y.m) || x.i - y.i);
      out.push(`${JSON.stringify(step)} -> ${byWatcher.map((x) => normalise(x.m)).join(' | ')}`);
    }
    return out;
  } finally {
    s.close();
  }
}

t.test('a watch stream sees the same responses from strata as from etcd', { skip }, async (t) => {
  const etcd = await startRealEtcd();
  t.teardown(() => etcd.stop());
  const strata = await startStrata();
  t.teardown(() => strata.stop());
  const want = await runSteps(etcd.endpoint);
  const got = await runSteps(strata.endpoint);
  for (let i = 0; i < STEPS.length; i++) t.equal(got[i], want[i], `step ${i}`);
});


t.test('etcdctl watch with --rev, --prefix and --prev-kv prints what it prints for etcd', { skip }, async (t) => {
  const run = async (endpoint: string): Promise<string[]> => {
    for (const [k, v] of [['w/a', '1'], ['w/b', '2'], ['w/a', '3'], ['x', '0']] as const) {
      t.equal((await etcdctl(endpoint, ['put', k, v])).code, 0);
    }
    t.equal((await etcdctl(endpoint, ['del', 'w/b'])).code, 0);
    // Each event prints its type, key and value; with --prev-kv, the previous key and value too.
    return etcdctlWatch(endpoint, ['w/', '--prefix', '--rev=2', '--prev-kv'], 15);
  };
  const etcd = await startRealEtcd();
  t.teardown(() => etcd.stop());
  const s = await startStrata();
  t.teardown(() => s.stop());
  const want = await run(etcd.endpoint);
  t.equal(want.length, 15, 'etcd printed the whole history');
  t.same(await run(s.endpoint), want);
});

t.test('the etcd3 client watcher sees history and live events', { skip }, async (t) => {
  const s = await startStrata();
  t.teardown(() => s.stop());
  const client = new Etcd3({ hosts: s.clientUrl });
  t.teardown(() => client.close());
  await client.put('e/a').value('1');
  const seen: string[] = [];
  const watcher = await client.watch().prefix('e/').startRevision('2').withPreviousKV().create();
  watcher.on('put', (kv, prev) => seen.push(`PUT ${kv.key.toString()}=${kv.value.toString()} prev=${prev?.value.toString() ?? '-'}`));
  watcher.on('delete', (kv, prev) => seen.push(`DELETE ${kv.key.toString()} prev=${prev?.value.toString() ?? '-'}`));
  await client.put('e/a').value('2');
  await client.delete().key('e/a');
  for (let i = 0; i < 300 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
  await watcher.cancel();
  t.same(seen, ['PUT e/a=1 prev=-', 'PUT e/a=2 prev=1', 'DELETE e/a prev=2']);
});
