/**
 * The HTTP/JSON gateway of a running strata member, as curl users and monitoring see it, and the
 * same requests against a real etcd 3.4.23 compared response by response.
 *
 * Against strata alone (Node's fetch on the client port, which also serves gRPC): every gateway
 * path answers (kv, lease and its /v3/kv/lease aliases, cluster, maintenance incl. the snapshot
 * stream), the watch stream over HTTP replays history, delivers live events and ends when the
 * client disconnects while the server keeps serving; /health follows leadership and alarms
 * (503 while a NOSPACE alarm is raised); /version is etcd's JSON; /metrics parses as Prometheus
 * text and carries etcd's metric names with values that follow the traffic.
 *
 * Differential: one script of requests (successes and failures) runs against both servers; the
 * status and the JSON body must match after ids, terms and sizes are normalised. Bodies whose
 * values are storage-specific (hash, db sizes) are compared by shape; decoder error texts by
 * status and gRPC code (Go's and ours differ in wording only).
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { etcdMissing, freePort, startRealEtcd } from '../helpers/real-etcd.js';
import { startStrata } from '../helpers/strata-server.js';
import { parsePromText } from '../gateway/prom-text.js';

const skip = etcdMissing();
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string): string => Buffer.from(s, 'base64').toString();

interface Reply { status: number; contentType: string; text: string }

async function post(base: string, path: string, body: string): Promise<Reply> {
  const r = await fetch(`${base}${path}`, { method: 'POST', body });
  return { status: r.status, contentType: r.headers.get('content-type') ?? '', text: await r.text() };
}

async function waitFor(what: string, ok: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Reads ndjson lines from a streaming response until `enough` says stop. */
async function readLines(body: ReadableStream<Uint8Array>, enough: (lines: unknown[]) => boolean,
  ms = 10_000): Promise<unknown[]> {
  const reader = body.getReader();
  const lines: unknown[] = [];
  let buf = '';
  const timer = setTimeout(() => void reader.cancel(), ms);
  try {
    while (!enough(lines)) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += Buffer.from(value).toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  return lines;
}

t.test('strata: every gateway path, watch over HTTP, health, version, metrics', async (t) => {
  const s = await startStrata({ name: 'gw' });
  t.teardown(() => s.stop());
  const base = s.clientUrl;
  await waitFor('a leader', async () => (await fetch(`${base}/health`).then((r) => r.status)) === 200);

  const put = await post(base, '/v3/kv/put', JSON.stringify({ key: b64('foo'), value: b64('bar') }));
  t.equal(put.status, 200, put.text);
  t.equal(put.contentType, 'application/json');
  t.match(JSON.parse(put.text), { header: { revision: '2', cluster_id: /^\d+$/, member_id: /^\d+$/ } });
  const range = JSON.parse((await post(base, '/v3beta/kv/range', JSON.stringify({ key: b64('foo') }))).text);
  t.equal(unb64(range.kvs[0].value), 'bar');
  t.equal(range.count, '1');
  const del = JSON.parse((await post(base, '/v3/kv/deleterange', JSON.stringify({ key: b64('foo'), prev_kv: true }))).text);
  t.equal(del.deleted, '1');
  t.equal(unb64(del.prev_kvs[0].value), 'bar');
  const txn = JSON.parse((await post(base, '/v3/kv/txn', JSON.stringify({
    compare: [{ target: 'CREATE', key: b64('foo'), createRevision: '0' }],
    success: [{ requestPut: { key: b64('foo'), value: b64('again') } }],
  }))).text);
  t.equal(txn.succeeded, true);
  t.match(txn.responses, [{ response_put: { header: { revision: '4' } } }]);
  t.equal((await post(base, '/v3/kv/compaction', '{"revision":"3"}')).status, 200);

  const grant = JSON.parse((await post(base, '/v3/lease/grant', '{"TTL":60}')).text);
  t.match(grant, { ID: /^\d+$/, TTL: '60' });
  const id = grant.ID as string;
  t.equal((await post(base, '/v3/kv/put', JSON.stringify({ key: b64('leased'), value: b64('v'), lease: id }))).status, 200);
  const ttl = JSON.parse((await post(base, '/v3/kv/lease/timetolive', JSON.stringify({ ID: id, keys: true }))).text);
  t.match(ttl, { ID: id, grantedTTL: '60', keys: [b64('leased')] });
  t.match(JSON.parse((await post(base, '/v3/lease/leases', '{}')).text).leases, [{ ID: id }]);
  t.match(JSON.parse((await post(base, '/v3/kv/lease/leases', '{}')).text).leases, [{ ID: id }]);
  const ka = await post(base, '/v3/lease/keepalive', JSON.stringify({ ID: id }));
  t.match(JSON.parse(ka.text.trim()), { result: { ID: id, TTL: '60' } }, 'one keepalive line');
  t.equal((await post(base, '/v3/kv/lease/revoke', JSON.stringify({ ID: id }))).status, 200);
  const gone = await post(base, '/v3/lease/revoke', JSON.stringify({ ID: id }));
  t.equal(gone.status, 404);
  t.same(JSON.parse(gone.text), { error: 'etcdserver: requested lease not found', message: 'etcdserver: requested lease not found', code: 5 });

  t.match(JSON.parse((await post(base, '/v3/cluster/member/list', '')).text),
    { members: [{ name: 'gw', clientURLs: [base] }] });
  t.match(JSON.parse((await post(base, '/v3/maintenance/status', '')).text), { version: '3.4.23', dbSize: /^\d+$/ });
  t.equal((await post(base, '/v3/maintenance/defragment', '')).status, 200);
  t.match(JSON.parse((await post(base, '/v3/maintenance/hash', '')).text), { hash: Number });
  t.match(JSON.parse((await post(base, '/v3/maintenance/hashkv', '{}')).text), { hash: Number });
  const snap = await post(base, '/v3/maintenance/snapshot', '{}');
  const blobs = snap.text.trim().split('\n').map((l) => Buffer.from(JSON.parse(l).result.blob as string, 'base64'));
  const all = Buffer.concat(blobs);
  t.ok(all.length > 32, 'a snapshot streams');
  t.equal(createHash('sha256').update(all.subarray(0, -32)).digest('hex'), all.subarray(-32).toString('hex'),
    'the stream ends with the SHA-256 of the db, as etcd sends it');

  // Watch: history from the revision of an earlier put, then a live event, then the client goes.
  const earlier = JSON.parse((await post(base, '/v3/kv/put', JSON.stringify({ key: b64('w'), value: b64('1') }))).text);
  const abort = new AbortController();
  const watch = await fetch(`${base}/v3/watch`, {
    method: 'POST', signal: abort.signal,
    body: JSON.stringify({ create_request: { key: b64('w'), start_revision: earlier.header.revision } }),
  });
  t.equal(watch.status, 200);
  const lines = await readLines(watch.body!, (ls) => ls.length >= 2) as { result: { created?: boolean; events?: { kv: { value: string } }[] } }[];
  t.equal(lines[0]?.result.created, true, 'created first');
  t.equal(unb64(lines[1]?.result.events?.[0]?.kv.value ?? ''), '1', 'then the event from history');
  const live = await post(base, '/v3/kv/put', JSON.stringify({ key: b64('w'), value: b64('2') }));
  t.equal(live.status, 200);
  const more = await readLines(watch.body!, (ls) => ls.length >= 1) as { result: { events: { kv: { value: string } }[] } }[];
  t.equal(unb64(more[0]?.result.events[0]?.kv.value ?? ''), '2', 'a live event');
  abort.abort();
  for (let i = 0; i < 20; i++) await post(base, '/v3/kv/put', JSON.stringify({ key: b64('w'), value: b64(`x${i}`) }));
  t.equal((await fetch(`${base}/health`)).status, 200, 'the server serves after the watcher left');

  // Health follows alarms: NOSPACE raised -> 503, disarmed -> 200.
  const memberID = JSON.parse(put.text).header.member_id as string;
  await post(base, '/v3/maintenance/alarm', JSON.stringify({ action: 'ACTIVATE', memberID, alarm: 'NOSPACE' }));
  const sick = await fetch(`${base}/health`);
  t.equal(sick.status, 503);
  t.equal(await sick.text(), '{"health":"false"}');
  t.match(JSON.parse((await post(base, '/v3/maintenance/alarm', '{}')).text), { alarms: [{ memberID, alarm: 'NOSPACE' }] });
  const full = await post(base, '/v3/kv/put', JSON.stringify({ key: b64('x'), value: b64('y') }));
  t.equal(full.status, 429, 'NOSPACE refuses writes with HTTP 429');
  await post(base, '/v3/maintenance/alarm', JSON.stringify({ action: 'DEACTIVATE', memberID, alarm: 'NOSPACE' }));
  const healthy = await fetch(`${base}/health`);
  t.equal(healthy.status, 200);
  t.equal(healthy.headers.get('content-type'), 'text/plain; charset=utf-8');
  t.equal(await healthy.text(), '{"health":"true"}');
  t.same(await (await fetch(`${base}/version`)).json(), { etcdserver: '3.4.23', etcdcluster: '3.4.0' });

  const metrics = await fetch(`${base}/metrics`);
  t.equal(metrics.status, 200);
  t.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const families = parsePromText(await metrics.text());
  const value = (name: string): number | undefined => families.get(name)?.samples[0]?.value;
  for (const name of [
    'etcd_server_has_leader', 'etcd_server_leader_changes_seen_total', 'etcd_server_proposals_committed_total',
    'etcd_server_proposals_applied_total', 'etcd_server_proposals_pending', 'etcd_server_proposals_failed_total',
    'etcd_mvcc_db_total_size_in_bytes', 'etcd_disk_wal_fsync_duration_seconds',
    'etcd_disk_backend_commit_duration_seconds', 'etcd_network_client_grpc_received_bytes_total',
    'grpc_server_handled_total', 'etcd_debugging_mvcc_keys_total', 'process_resident_memory_bytes',
  ]) t.ok(families.has(name), name);
  t.equal(value('etcd_server_has_leader'), 1);
  t.ok((value('etcd_server_leader_changes_seen_total') ?? 0) >= 1, 'the first election counts');
  t.ok((value('etcd_server_proposals_applied_total') ?? 0) >= 25, 'applied follows the writes');
  t.equal(value('etcd_server_proposals_pending'), 0);
  // etcd counts a proposal as failed when raft drops it or it times out, not when apply answers
  // with an error (a revoke of a missing lease) or the quota refuses it before proposing.
  t.equal(value('etcd_server_proposals_failed_total'), 0, 'no proposal was lost in raft');
  t.equal(value('etcd_debugging_mvcc_keys_total'), 2, 'foo and w (leased was revoked)');
  t.ok((value('etcd_mvcc_put_total') ?? 0) >= 3, 'puts counted (foo, w, leased)');
  t.ok((value('etcd_mvcc_delete_total') ?? 0) >= 1, 'deletes counted (leased, with its lease)');
  t.equal(families.get('etcd_cluster_version')?.samples[0]?.labels.cluster_version, '3.4');
  const fsync = families.get('etcd_disk_wal_fsync_duration_seconds')!;
  t.ok((fsync.samples.find((x) => x.name.endsWith('_count'))?.value ?? 0) > 0, 'fsyncs were timed on the raft thread');
  // Apply's writes reach LMDB in batches (every 100 ms by default): wait for one to commit. The
  // scrapes in between also meet prom-client's event-loop gauges at NaN now and then.
  await waitFor('a backend commit timed', async () => {
    const now = parsePromText(await (await fetch(`${base}/metrics`)).text());
    return (now.get('etcd_disk_backend_commit_duration_seconds')?.samples
      .find((x) => x.name.endsWith('_count'))?.value ?? 0) > 0;
  });
  t.equal(families.get('etcd_server_id')?.samples[0]?.labels.server_id, BigInt(memberID).toString(16));
});

t.test('metrics count gRPC calls by method and code', async (t) => {
  const s = await startStrata({ name: 'gm' });
  t.teardown(() => s.stop());
  const { etcdClient, call } = await import('../grpc/fixture.js');
  const kv = etcdClient('KV', s.endpoint);
  t.teardown(() => kv.close());
  await waitFor('a leader', async () => (await fetch(`${s.clientUrl}/health`).then((r) => r.status)) === 200);
  await call(kv, 'Put', { key: Buffer.from('a'), value: Buffer.from('b') });
  await call(kv, 'Range', { key: Buffer.from('') }).catch(() => undefined);
  const text = await (await fetch(`${s.clientUrl}/metrics`)).text();
  t.match(text, 'grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"} 1',
    'labels in name order, as Go prints them (etcd\'s e2e tests match the text)');
  const families = parsePromText(text);
  const handled = families.get('grpc_server_handled_total')!.samples;
  t.match(handled, [{ labels: { grpc_method: 'Put', grpc_code: 'OK', grpc_type: 'unary', grpc_service: 'etcdserverpb.KV' }, value: 1 }]);
  t.ok(handled.some((x) => x.labels.grpc_method === 'Range' && x.labels.grpc_code === 'InvalidArgument' && x.value === 1));
  t.ok((families.get('etcd_network_client_grpc_received_bytes_total')?.samples[0]?.value ?? 0) > 0);
});

t.test('--listen-metrics-urls: /metrics and /health on a port of their own, nothing else', async (t) => {
  const metricsPort = await freePort();
  const s = await startStrata({ name: 'mu', extraArgs: [`--listen-metrics-urls=http://127.0.0.1:${metricsPort}`] });
  t.teardown(() => s.stop());
  const base = `http://127.0.0.1:${metricsPort}`;
  await waitFor('a leader', async () => (await fetch(`${base}/health`).then((r) => r.status)) === 200);
  t.same(await (await fetch(`${base}/health`)).json(), { health: 'true' });
  const families = parsePromText(await (await fetch(`${base}/metrics`)).text());
  t.ok(families.has('etcd_server_version'), 'the same metrics as the client port');
  t.equal((await fetch(`${base}/v3/kv/range`, { method: 'POST', body: '{}' })).status, 404, 'no gateway there');
  t.equal((await fetch(`${base}/version`)).status, 404, 'no /version there (etcd serves it on client URLs only)');
  t.equal((await fetch(`${s.clientUrl}/metrics`)).status, 200, 'the client port still serves /metrics');
});

// ---- differential ----

type Mode = 'exact' | 'shape' | 'status';

/** The script: [path, body, how to compare]. Both servers start empty, so revisions line up. */
const SCRIPT: readonly (readonly [string, string, Mode])[] = [
  ['/v3/kv/put', JSON.stringify({ key: b64('foo'), value: b64('bar') }), 'exact'],
  ['/v3/kv/put', JSON.stringify({ key: b64('foo2'), value: b64('1'), prev_kv: true }), 'exact'],
  ['/v3/kv/put', JSON.stringify({ key: b64('foo2'), value: b64('2'), prev_kv: true }), 'exact'],
  ['/v3/kv/range', JSON.stringify({ key: b64('foo'), range_end: b64('fop') }), 'exact'],
  ['/v3/kv/range', JSON.stringify({ key: b64('foo'), range_end: b64('fop'), count_only: true }), 'exact'],
  ['/v3/kv/range', JSON.stringify({ key: b64('foo'), range_end: b64('fop'), limit: 1, sort_order: 'DESCEND', sort_target: 'KEY' }), 'exact'],
  ['/v3/kv/range', JSON.stringify({ key: b64('nope') }), 'exact'],
  ['/v3/kv/range', JSON.stringify({ key: b64('foo'), keys_only: true, serializable: true }), 'exact'],
  ['/v3beta/kv/range', JSON.stringify({ key: b64('foo') }), 'exact'],
  ['/v3/kv/txn', JSON.stringify({
    compare: [{ target: 'CREATE', key: b64('foo'), createRevision: '0' }],
    success: [{ requestPut: { key: b64('foo'), value: b64('2') } }],
    failure: [{ requestRange: { key: b64('foo') } }],
  }), 'exact'],
  ['/v3/kv/txn', JSON.stringify({
    compare: [{ target: 'VALUE', key: b64('foo'), value: b64('bar'), result: 'EQUAL' }],
    success: [{ request_put: { key: b64('foo'), value: b64('baz') } }, { request_delete_range: { key: b64('foo2'), prev_kv: true } }],
  }), 'exact'],
  ['/v3/kv/deleterange', JSON.stringify({ key: b64('foo'), prev_kv: true }), 'exact'],
  ['/v3/kv/deleterange', JSON.stringify({ key: b64('none') }), 'exact'],
  ['/v3/kv/compaction', JSON.stringify({ revision: '3' }), 'exact'],
  ['/v3/kv/compaction', JSON.stringify({ revision: '2' }), 'exact'],
  ['/v3/kv/range', JSON.stringify({ key: b64('foo'), revision: '2' }), 'exact'],
  ['/v3/kv/range', JSON.stringify({ key: b64('foo'), revision: '99' }), 'exact'],
  ['/v3/kv/put', JSON.stringify({ key: '', value: b64('x') }), 'exact'],
  ['/v3/lease/grant', JSON.stringify({ TTL: 60, ID: '4242' }), 'exact'],
  ['/v3/lease/grant', JSON.stringify({ TTL: 60, ID: 4242 }), 'exact'],
  ['/v3/kv/put', JSON.stringify({ key: b64('l'), value: b64('v'), lease: '4242' }), 'exact'],
  ['/v3/kv/put', JSON.stringify({ key: b64('l2'), value: b64('v'), lease: '999' }), 'exact'],
  ['/v3/lease/leases', '{}', 'exact'],
  ['/v3/kv/lease/leases', '', 'exact'],
  ['/v3/lease/keepalive', JSON.stringify({ ID: '4242' }), 'exact'],
  ['/v3/kv/lease/timetolive', JSON.stringify({ ID: '4242', keys: true }), 'shape'],
  ['/v3/lease/timetolive', JSON.stringify({ ID: '777' }), 'exact'],
  ['/v3/lease/revoke', JSON.stringify({ ID: '4242' }), 'exact'],
  ['/v3/kv/lease/revoke', JSON.stringify({ ID: '4242' }), 'exact'],
  ['/v3/kv/range', JSON.stringify({ key: b64('l') }), 'exact'],
  ['/v3/cluster/member/list', '{}', 'exact'],
  ['/v3/maintenance/status', '{}', 'shape'],
  ['/v3/maintenance/hash', '{}', 'shape'],
  // bad input
  ['/v3/kv/range', '{"key":"Zm9v"', 'status'],
  ['/v3/kv/range', 'xyz', 'status'],
  ['/v3/kv/range', '[1]', 'exact'],
  ['/v3/kv/range', '{"key":123}', 'exact'],
  ['/v3/kv/range', '{"key":"!!!"}', 'exact'],
  ['/v3/kv/range', '{"limit":"abc"}', 'status'],
  ['/v3/kv/range', '{"sort_order":"FOO"}', 'exact'],
  ['/v3/kv/range', '{"key":"Zm9v","unknown_field":{"x":[1,2]}}', 'exact'],
  ['/v3/kv/nope', '{}', 'exact'],
  ['/v3alpha/kv/range', '{}', 'exact'],
];

const ID_KEYS = new Set(['cluster_id', 'member_id', 'raft_term', 'leader', 'raftTerm']);
const SIZE_KEYS = new Set(['dbSize', 'dbSizeInUse', 'raftIndex', 'raftAppliedIndex', 'hash', 'TTL', 'version']);

/** Replaces what legitimately differs between two servers: ids, terms, URLs, sizes. */
function normalise(v: unknown, mode: Mode, key = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => normalise(x, mode, key));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = normalise(x, mode, k);
    return out;
  }
  if (ID_KEYS.has(key) || key === 'ID' && typeof v === 'string' && v.length > 10) return '<id>';
  if (key === 'peerURLs' || key === 'clientURLs' || key === 'name') return '<url>';
  if (mode === 'shape' && SIZE_KEYS.has(key)) return typeof v;
  return v;
}

function parseBody(r: Reply, mode: Mode): unknown {
  if (!r.contentType.startsWith('application/json')) return r.text;
  const lines = r.text.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown);
  const n = lines.map((l) => normalise(l, mode));
  return n.length === 1 ? n[0] : n;
}

t.test('differential: the same requests against etcd 3.4.23 and strata', { skip }, async (t) => {
  const [etcd, strata] = await Promise.all([startRealEtcd({ name: 'd' }), startStrata({ name: 'd' })]);
  t.teardown(async () => { await Promise.all([etcd.stop(), strata.stop()]); });
  for (const base of [etcd.clientUrl, strata.clientUrl]) {
    await waitFor(`${base} healthy`, async () => (await fetch(`${base}/health`).then((r) => r.status)) === 200);
  }
  for (const [path, body, mode] of SCRIPT) {
    const [a, b] = [await post(etcd.clientUrl, path, body), await post(strata.clientUrl, path, body)];
    const label = `${path} ${body.slice(0, 80)}`;
    t.equal(b.status, a.status, `${label}: status`);
    if (mode === 'status') {
      t.equal((JSON.parse(b.text) as { code: number }).code, (JSON.parse(a.text) as { code: number }).code, `${label}: code`);
      continue;
    }
    const [ea, sb] = [parseBody(a, mode), parseBody(b, mode)];
    if (mode === 'shape' && path === '/v3/maintenance/status') {
      // strata also reports dbSizeQuota (a 3.5 field etcd 3.4 lacks); every etcd key is there.
      t.match(sb, ea, `${label}: body (etcd's keys, same shapes)`);
    } else {
      t.same(sb, ea, `${label}: body`);
    }
  }
  for (const path of ['/health', '/version']) {
    const [a, b] = await Promise.all([fetch(`${etcd.clientUrl}${path}`), fetch(`${strata.clientUrl}${path}`)]);
    t.equal(b.status, a.status, `${path} status`);
    t.equal(await b.text(), await a.text(), `${path} body`);
  }
  const [ga, gb] = await Promise.all([fetch(`${etcd.clientUrl}/v3/kv/range`), fetch(`${strata.clientUrl}/v3/kv/range`)]);
  t.equal(gb.status, ga.status, 'GET on a POST path');
  t.equal(await gb.text(), await ga.text());
});
