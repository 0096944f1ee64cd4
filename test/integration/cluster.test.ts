/**
 * A three-member cluster of real processes over the TCP peer transport, through the etcd3 client
 * and etcdctl: one leader, writes taken by every member, linearizable reads everywhere, a watch on
 * a follower, keepalives on a follower, the member list; kill -9 of the leader, a new leader
 * taking writes, the old one restarted and caught up, HashKV equal on all three; move-leader; and
 * a peer port that refuses garbage, a stranger's cluster and oversized frames while the cluster
 * keeps serving.
 */
import { connect } from 'node:net';
import t from 'tap';
import { Etcd3 } from 'etcd3';
import { etcdctl, etcdMissing } from '../helpers/real-etcd.js';
import { until } from '../helpers/until.js';
import { startStrataCluster, type StrataServer } from '../helpers/strata-server.js';
import { encodeHello, encodeMessage } from '../../src/runtime/node/index.js';
import { message } from '../../src/raft/index.js';
import type { MemberId } from '../../src/base/index.js';

interface Status {
  readonly memberId: string;
  readonly leader: string;
  readonly clusterId: string;
  readonly term: string;
}

async function status(m: StrataServer): Promise<Status> {
  const c = new Etcd3({ hosts: m.clientUrl, dialTimeout: 2_000 });
  try {
    const s = await c.maintenance.status();
    return { memberId: s.header.member_id, leader: s.leader, clusterId: s.header.cluster_id, term: s.raftTerm };
  } finally {
    c.close();
  }
}


/** Writes `bytes` to a member's peer port; resolves true when the member closed the connection. */
function peerPortCloses(peerUrl: string, bytes: Buffer): Promise<boolean> {
  const u = new URL(peerUrl);
  return new Promise((resolve) => {
    const s = connect({ host: u.hostname, port: Number(u.port) }, () => s.write(bytes));
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 5_000);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

t.test('a three-member cluster over TCP', async (t) => {
  const members = await startStrataCluster(3);
  t.teardown(() => Promise.all(members.map((m) => m.stop())));
  const clients = members.map((m) => new Etcd3({ hosts: m.clientUrl, dialTimeout: 5_000 }));
  t.teardown(() => clients.forEach((c) => c.close()));

  const statuses = await Promise.all(members.map(status));
  const leaderId = statuses[0]!.leader;
  t.not(leaderId, '0', 'a leader is elected before members serve');
  t.ok(statuses.every((s) => s.leader === leaderId), 'every member names the same leader');
  t.ok(statuses.some((s) => s.memberId === leaderId), 'the leader is one of the three');
  t.equal(new Set(statuses.map((s) => s.clusterId)).size, 1, 'one cluster id');
  t.equal(new Set(statuses.map((s) => s.memberId)).size, 3, 'three member ids');

  await t.test('every member takes writes and serves linearizable reads of all of them', async (t) => {
    for (let i = 0; i < 3; i++) await clients[i]!.put(`k${i}`).value(`v${i}`);
    for (let j = 0; j < 3; j++) {
      const all = await clients[j]!.getAll().prefix('k').strings();
      t.same(all, { k0: 'v0', k1: 'v1', k2: 'v2' }, `member ${j + 1} reads all three writes`);
    }
    const revs = await Promise.all(clients.map(async (c) => (await c.get('k2').exec()).header.revision));
    t.same(revs, [revs[0], revs[0], revs[0]], 'the same revision everywhere');
  });

  await t.test('a txn on a follower and etcdctl against every member', { skip: etcdMissing() }, async (t) => {
    const follower = statuses.findIndex((s) => s.memberId !== leaderId);
    const txn = await clients[follower]!.if('k0', 'Value', '==', 'v0').then(clients[follower]!.put('k0').value('w0')).commit();
    t.ok(txn.succeeded, 'the compare held');
    for (const m of members) {
      const out = await etcdctl(m.endpoint, ['get', 'k0', '--print-value-only']);
      t.equal(out.stdout.trim(), 'w0', `etcdctl get on ${m.endpoint}`);
    }
    const list = await etcdctl(members[follower]!.endpoint, ['member', 'list', '-w', 'json']);
    t.equal(list.code, 0, list.stderr);
    const listed = (JSON.parse(list.stdout) as { members: { name: string; peerURLs: string[]; clientURLs: string[] }[] }).members;
    t.same(listed.map((m) => m.name).sort(), ['m1', 'm2', 'm3'], 'member list names all three');
    t.same(listed.map((m) => m.peerURLs[0]).sort(), members.map((m) => m.peerUrl).sort(), 'with their peer URLs');
    t.same(listed.map((m) => m.clientURLs[0]).sort(), members.map((m) => m.clientUrl).sort(), 'and client URLs');
    const cluster = await etcdctl(members[follower]!.endpoint, ['endpoint', 'status', '--cluster', '-w', 'json']);
    t.equal((JSON.parse(cluster.stdout) as unknown[]).length, 3, `endpoint status --cluster reaches all three: ${cluster.stderr}`);
  });

  await t.test('a watch on a follower sees a write made on the leader', async (t) => {
    const leader = statuses.findIndex((s) => s.memberId === leaderId);
    const follower = (leader + 1) % 3;
    const watcher = await clients[follower]!.watch().key('w').create();
    const seen = new Promise<string>((resolve) => watcher.on('put', (kv) => resolve(kv.value.toString())));
    await clients[leader]!.put('w').value('hello');
    t.equal(await seen, 'hello');
    await watcher.cancel();
  });

  await t.test('a follower forwards keepalives and time-to-live to the leader', { skip: etcdMissing() }, async (t) => {
    const leader = statuses.findIndex((s) => s.memberId === leaderId);
    const follower = members[(leader + 1) % 3]!;
    const granted = await etcdctl(members[leader]!.endpoint, ['lease', 'grant', '60']);
    const id = /lease ([0-9a-f]+) granted/.exec(granted.stdout)?.[1];
    t.ok(id, granted.stdout + granted.stderr);
    const kept = await etcdctl(follower.endpoint, ['lease', 'keep-alive', '--once', id!]);
    t.match(kept.stdout, new RegExp(`lease ${id} keepalived with TTL\\(60\\)`), `keepalive on a follower: ${kept.stderr}`);
    const ttl = await etcdctl(follower.endpoint, ['lease', 'timetolive', id!]);
    t.match(ttl.stdout, /granted with TTL\(60s\), remaining\((59|60)s\)/, `time-to-live on a follower: ${ttl.stderr}`);
    const gone = await etcdctl(follower.endpoint, ['lease', 'timetolive', '1234abcd']);
    t.match(gone.stdout, /already expired/, 'an unknown lease, asked on a follower');
    // The etcd3 client's keepalive stream on a follower renews the lease at the leader: 3.5 s
    // after the grant more than 6 - 3.5 s remain (one renewal at least arrived).
    const lease = clients[(leader + 1) % 3]!.lease(6, { autoKeepAlive: true });
    await lease.put('leased').value('x');
    const leased = BigInt(await lease.grant()).toString(16);
    await new Promise((r) => setTimeout(r, 3_500));
    const left = await etcdctl(members[leader]!.endpoint, ['lease', 'timetolive', leased]);
    const remaining = Number(/remaining\((\d+)s\)/.exec(left.stdout)?.[1] ?? -1);
    t.ok(remaining >= 3, `renewed through the follower (remaining ${remaining} s): ${left.stdout}`);
    t.equal(await clients[leader]!.get('leased').string(), 'x', 'its key is there');
    await lease.revoke();
    t.equal(await clients[leader]!.get('leased').string(), null, 'and went with the revoke');
  });

  await t.test('the peer port refuses bad input and the cluster keeps serving', async (t) => {
    const target = members[0]!;
    t.ok(await peerPortCloses(target.peerUrl, Buffer.from('GET / HTTP/1.1\r\n\r\n')), 'garbage: closed');
    t.ok(await peerPortCloses(target.peerUrl, Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])), 'oversized frame: closed');
    const me = BigInt(statuses[0]!.memberId);
    const other = BigInt(statuses[1]!.memberId);
    t.ok(await peerPortCloses(target.peerUrl, encodeHello({ clusterId: 12345n, from: other as MemberId, to: me as MemberId, clientUrls: [], purpose: 'raft', name: '', peerUrls: [] })),
      'a hello from another cluster: closed');
    const cluster = BigInt(statuses[0]!.clusterId);
    const forged = Buffer.concat([
      encodeHello({ clusterId: cluster, from: other as MemberId, to: me as MemberId, clientUrls: [], purpose: 'raft', name: '', peerUrls: [] }),
      // A message claiming to come from a third member on the second member's connection.
      encodeMessage(message({ type: 'MsgHeartbeat', to: me as MemberId, from: 7n as MemberId, term: 1 })),
    ]);
    t.ok(await peerPortCloses(target.peerUrl, forged), 'a misaddressed message: closed');
    await clients[0]!.put('after-bad-input').value('ok');
    t.equal(await clients[2]!.get('after-bad-input').string(), 'ok', 'writes and reads go on');
  });

  await t.test('kill -9 of the leader: a new leader takes writes; the old one catches up on restart', { skip: etcdMissing() }, async (t) => {
    const leader = statuses.findIndex((s) => s.memberId === leaderId);
    const survivors = [0, 1, 2].filter((i) => i !== leader);
    await members[leader]!.kill9();
    const newLeader = await until('a new leader', async () => {
      const s = await status(members[survivors[0]!]!);
      return s.leader !== '0' && s.leader !== leaderId ? s.leader : undefined;
    });
    t.ok(survivors.some((i) => statuses[i]!.memberId === newLeader), 'a survivor leads');
    await until('a write on the survivors', async () => {
      await clients[survivors[1]!]!.put('while-down').value('yes');
      return true;
    });
    t.equal(await clients[survivors[0]!]!.get('while-down').string(), 'yes');

    await members[leader]!.restart();
    const restarted = new Etcd3({ hosts: members[leader]!.clientUrl });
    t.teardown(() => restarted.close());
    t.equal(await restarted.get('while-down').string(), 'yes', 'the restarted member reads the write it missed');
    const hashes = await until('equal HashKV at one revision', async () => {
      const rev = (await clients[survivors[0]!]!.get('while-down').exec()).header.revision;
      const hs = await Promise.all(members.map(async (m) => {
        const out = await etcdctl(m.endpoint, ['endpoint', 'hashkv', `--rev=${rev}`, '-w', 'json']);
        return /"hash":(\d+)/.exec(out.stdout)?.[1];
      }));
      return hs.every((h) => h !== undefined) && new Set(hs).size === 1 ? hs : undefined;
    });
    t.equal(hashes.length, 3, 'all three members hash the keyspace alike');
  });

  await t.test('move-leader hands leadership to the member named', { skip: etcdMissing() }, async (t) => {
    const now = await Promise.all(members.map(status));
    const leader = now.findIndex((s) => s.memberId === s.leader);
    const target = (leader + 1) % 3;
    const targetHex = BigInt(now[target]!.memberId).toString(16);
    const all = members.map((m) => m.endpoint).join(',');
    const moved = await etcdctl(all, ['move-leader', targetHex]);
    t.match(moved.stdout, new RegExp(`Leadership transferred from \\w+ to ${targetHex}`), moved.stderr);
    const after = await until('every member to see the new leader', async () => {
      const ss = await Promise.all(members.map(status));
      return ss.every((s) => s.leader === now[target]!.memberId) ? ss : undefined;
    });
    t.equal(after[target]!.leader, after[target]!.memberId, 'the target leads');
    const follower = (target + 1) % 3;
    const refused = await etcdctl(members[follower]!.endpoint, ['move-leader', targetHex]);
    t.not(refused.code, 0, 'asking a follower alone is refused');
    await clients[follower]!.put('after-move').value('ok');
    t.equal(await clients[target]!.get('after-move').string(), 'ok', 'the cluster takes writes');
  });
});
