/**
 * A data dir written before the Raft log moved into the member env (its own env at
 * `member/wal`, databases `log` and `meta`) still starts: strata imports the log into the member
 * env, removes `member/wal`, and goes on from where it was, keys, revision and Raft index intact.
 * The old layout is made from a real member's data dir, killed with -9, by moving its two Raft
 * tables back out into an env of their own under the old names.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { Etcd3 } from 'etcd3';
import { RAFT_LOG_TABLE, RAFT_META_TABLE } from '../../src/runtime/node/index.js';
import { startStrata } from '../helpers/strata-server.js';

t.test('a member/wal env from an older strata is imported on start', async (t) => {
  const s = await startStrata({ name: 'legacy' });
  t.teardown(() => s.stop());
  let client = new Etcd3({ hosts: s.clientUrl });
  for (let i = 1; i <= 5; i++) await client.put(`k${i}`).value(`v${i}`);
  const before = await client.maintenance.status();
  client.close();
  await s.kill9();

  const memberEnv = join(s.dataDir, 'member', 'mvcc');
  const walEnv = join(s.dataDir, 'member', 'wal');
  const env = open({ path: memberEnv, maxDbs: 64 });
  const wal = open({ path: walEnv, maxDbs: 64 });
  let entries = 0;
  for (const [name, old] of [[RAFT_LOG_TABLE, 'log'], [RAFT_META_TABLE, 'meta']] as const) {
    const from = env.openDB<Uint8Array, Uint8Array>({ name, keyEncoding: 'binary', encoding: 'binary' });
    const to = wal.openDB<Uint8Array, Uint8Array>({ name: old, keyEncoding: 'binary', encoding: 'binary' });
    for (const { key, value } of from.getRange({})) {
      await to.put(key as Uint8Array, value);
      if (old === 'log') entries++;
    }
    await from.drop();
  }
  await wal.close();
  await env.close();
  t.ok(entries > 0, `the old layout holds the log (${entries} entries)`);

  await s.restart();
  t.notOk(existsSync(walEnv), 'member/wal is gone');
  t.match(s.log(), /moved the Raft log into the member env/);
  client = new Etcd3({ hosts: s.clientUrl });
  t.teardown(() => client.close());
  for (let i = 1; i <= 5; i++) t.equal(await client.get(`k${i}`).string(), `v${i}`);
  const after = await client.maintenance.status();
  t.equal(after.header.revision, before.header.revision, 'the revision carried over');
  t.ok(Number(after.raftIndex) >= Number(before.raftIndex), 'the Raft index did not go back');
  const put = await client.put('k6').value('v6').exec();
  t.equal(Number(put.header.revision), Number(before.header.revision) + 1, 'and writes go on from it');
});
