/**
 * Maintenance and Cluster through etcdctl against a strata member: endpoint status and hashkv,
 * member list, defrag, snapshot save (the file is the db followed by its SHA-256, as etcd sends
 * it; the db holds the keys and not the member's Raft log, which shares its env), move-leader to the current leader, and the space quota: with a small
 * --quota-backend-bytes, writes are refused with etcd's NOSPACE error and the alarm is listed,
 * reads and deletes still work, the alarm survives a kill -9 and restart (etcd persists alarms),
 * and after compaction and disarm writes succeed again.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { MVCC_TABLES } from '../../src/mvcc/index.js';
import { RAFT_LOG_TABLE, RAFT_META_TABLE } from '../../src/runtime/node/index.js';
import { etcdMissing, etcdctl } from '../helpers/real-etcd.js';
import { startStrata } from '../helpers/strata-server.js';

const skip = etcdMissing();

t.test('status, hashkv, member list, defrag, snapshot, move-leader', { skip }, async (t) => {
  const s = await startStrata({ name: 'm1' });
  t.teardown(() => s.stop());
  for (let i = 0; i < 5; i++) t.equal((await etcdctl(s.endpoint, ['put', `k${i}`, `v${i}`])).code, 0);

  const status = await etcdctl(s.endpoint, ['endpoint', 'status', '-w', 'json']);
  t.equal(status.code, 0, status.stderr);
  t.match(status.stdout, /"version":"3\.4\.23"/);
  t.match(status.stdout, /"revision":6/);
  const ids = /"member_id":(\d+).*"leader":(\d+)/.exec(status.stdout);
  t.ok(ids !== null && ids[1] === ids[2], 'a single member leads itself');
  t.match(status.stdout, /"raftAppliedIndex":\d+/);

  const h1 = await etcdctl(s.endpoint, ['endpoint', 'hashkv', '-w', 'json']);
  const h2 = await etcdctl(s.endpoint, ['endpoint', 'hashkv', '-w', 'json']);
  t.equal(h1.code, 0, h1.stderr);
  t.equal(/"hash":(\d+)/.exec(h1.stdout)?.[1], /"hash":(\d+)/.exec(h2.stdout)?.[1], 'hashkv is stable');
  t.match(h1.stdout, /"compact_revision":-1/);

  const members = await etcdctl(s.endpoint, ['member', 'list']);
  t.equal(members.code, 0, members.stderr);
  t.match(members.stdout, new RegExp(`, started, m1, ${s.peerUrl}, ${s.clientUrl}, false`));

  const defrag = await etcdctl(s.endpoint, ['defrag']);
  t.equal(defrag.code, 0, defrag.stderr);
  t.match(defrag.stdout, /Finished defragmenting etcd member/);

  const dir = mkdtempSync(join(tmpdir(), 'strata-snap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'snap.db');
  const snap = await etcdctl(s.endpoint, ['snapshot', 'save', file]);
  t.equal(snap.code, 0, 'snapshot save succeeds');
  const bytes = readFileSync(file);
  t.ok(bytes.length > 4096, 'the snapshot holds the db');
  const body = bytes.subarray(0, bytes.length - 32);
  t.equal(createHash('sha256').update(body).digest('hex'), bytes.subarray(bytes.length - 32).toString('hex'),
    'the stream ends with the SHA-256 of the db, as etcd\'s does');
  const restored = join(dir, 'env');
  mkdirSync(restored);
  writeFileSync(join(restored, 'data.mdb'), body);
  const env = open({ path: restored, readOnly: true, maxDbs: 64 });
  const names = [...env.getKeys()].map(String);
  t.ok(MVCC_TABLES.every((n) => names.includes(n)), `the mvcc tables are there (${names.join(', ')})`);
  t.notOk(names.includes(RAFT_LOG_TABLE) || names.includes(RAFT_META_TABLE), 'the Raft log is not');
  await env.close();

  const leaderHex = BigInt(ids![1]!).toString(16);
  const move = await etcdctl(s.endpoint, ['move-leader', leaderHex]);
  t.equal(move.code, 0, move.stderr);
});

t.test('the space quota raises NOSPACE and compaction makes room again', { skip }, async (t) => {
  const s = await startStrata({ extraArgs: ['--quota-backend-bytes=400000'] });
  t.teardown(() => s.stop());
  const big = 'x'.repeat(60_000);
  let refused = '';
  for (let i = 0; i < 20 && refused === ''; i++) {
    const out = await etcdctl(s.endpoint, ['put', `big${i}`], big);
    if (out.code !== 0) refused = out.stderr;
  }
  t.match(refused, /Error: etcdserver: mvcc: database space exceeded/);
  const alarms = await etcdctl(s.endpoint, ['alarm', 'list']);
  t.match(alarms.stdout, /alarm:NOSPACE/);
  const status = await etcdctl(s.endpoint, ['endpoint', 'status', '-w', 'json']);
  t.match(status.stdout, /"errors":\["memberID:\d+ alarm:NOSPACE "\]/);
  t.equal((await etcdctl(s.endpoint, ['get', 'big0', '--keys-only'])).stdout.trim(), 'big0', 'reads still work');
  const small = await etcdctl(s.endpoint, ['put', 'small', 'x']);
  t.match(small.stderr, /database space exceeded/, 'every write is refused while the alarm is raised');
  await s.kill9();
  await s.restart();
  t.match((await etcdctl(s.endpoint, ['alarm', 'list'])).stdout, /alarm:NOSPACE/, 'the alarm survives a restart');
  t.match((await etcdctl(s.endpoint, ['put', 'small', 'x'])).stderr, /database space exceeded/,
    'and still refuses writes');
  const del = await etcdctl(s.endpoint, ['del', 'big', '--prefix']);
  t.equal(del.code, 0, 'deletes still work');
  const head = /"revision":(\d+)/.exec((await etcdctl(s.endpoint, ['get', 'small', '-w', 'json'])).stdout)?.[1];
  t.equal((await etcdctl(s.endpoint, ['compaction', '--physical', head ?? '0'])).code, 0);
  t.equal((await etcdctl(s.endpoint, ['defrag'])).code, 0);
  const disarm = await etcdctl(s.endpoint, ['alarm', 'disarm']);
  t.match(disarm.stdout, /alarm:NOSPACE/);
  t.equal((await etcdctl(s.endpoint, ['alarm', 'list'])).stdout.trim(), '', 'no alarm is left');
  const after = await etcdctl(s.endpoint, ['put', 'small', 'x']);
  t.equal(after.code, 0, `writes work again: ${after.stderr}`);
});
