/**
 * Membership changes through etcd's own client, against real processes: MemberAdd (voter and
 * learner), MemberUpdate, MemberPromote, MemberRemove with etcd's errors and strict
 * reconfiguration checks; the member table survives a restart; members join a running cluster
 * with --initial-cluster-state existing (a voter, then a learner promoted once it connected), and
 * one removed while it was down stops once a member tells it so; in
 * a three-member cluster a removed member stops by itself, the others go on, and it cannot come
 * back.
 */
import t from 'tap';
import { etcdctl, etcdMissing, freePort } from '../helpers/real-etcd.js';
import { startStrata, startStrataCluster } from '../helpers/strata-server.js';
import { until } from '../helpers/until.js';

const skip = etcdMissing();

interface ListedMember { id: string; status: string; name: string; peerUrls: string; clientUrls: string; isLearner: boolean }

/** `etcdctl member list` (its simple format: ids in hex, which JSON would round). */
async function members(endpoint: string): Promise<ListedMember[]> {
  const r = await etcdctl(endpoint, ['member', 'list']);
  return r.stdout.trim().split('\n').filter((l) => l !== '').map((line) => {
    const [id, status, name, peerUrls, clientUrls, isLearner] = line.split(', ');
    return { id: id!, status: status!, name: name!, peerUrls: peerUrls!, clientUrls: clientUrls!, isLearner: isLearner === 'true' };
  });
}

/** The id etcdctl prints in "Member <hex> added to cluster ...". */
function addedId(stdout: string): string {
  const m = / +([0-9a-f]+) added to cluster /.exec(stdout);
  if (m === null) throw new Error(`no member added: ${stdout}`);
  return m[1]!;
}

t.test('one member: learners, updates, promotion and removal, as etcd answers them', { skip }, async (t) => {
  const s = await startStrata({ name: 'm1' });
  t.teardown(() => s.stop());
  const e = s.endpoint;
  const learnerUrl = 'http://127.0.0.1:1';
  const add = await etcdctl(e, ['member', 'add', 'l1', `--peer-urls=${learnerUrl}`, '--learner']);
  t.match(add.stdout, / added to cluster /, add.stderr);
  t.match(add.stdout, /ETCD_INITIAL_CLUSTER_STATE="existing"/);
  const id = addedId(add.stdout);
  const list = await members(e);
  t.equal(list.length, 2);
  t.same(list.find((m) => m.id === id), {
    id, status: 'unstarted', name: '', peerUrls: learnerUrl, clientUrls: '', isLearner: true,
  }, 'an unstarted learner: no name, no client URLs');

  const second = await etcdctl(e, ['member', 'add', 'l2', '--peer-urls=http://127.0.0.1:2', '--learner']);
  t.match(second.stderr, /etcdserver: too many learner members in cluster/);
  const taken = await etcdctl(e, ['member', 'add', 'x', `--peer-urls=${s.peerUrl}`]);
  t.match(taken.stderr, /etcdserver: Peer URLs already exists/);

  const update = await etcdctl(e, ['member', 'update', id, '--peer-urls=http://127.0.0.1:3']);
  t.match(update.stdout, new RegExp(`Member +${id} updated in cluster `), update.stderr);
  t.match((await members(e)).find((m) => m.id === id), { peerUrls: 'http://127.0.0.1:3' });
  const promote = await etcdctl(e, ['member', 'promote', id]);
  t.match(promote.stderr, /etcdserver: can only promote a learner member which is in sync with leader/,
    'a learner that never connected is not promoted');

  // A learner does not count towards the quorum: the lone voter still writes and reads.
  t.equal((await etcdctl(e, ['put', 'k', 'v'])).stdout.trim(), 'OK');
  await s.kill9();
  await s.restart();
  t.equal((await members(e)).length, 2, 'the member table survives a restart');
  t.equal((await etcdctl(e, ['get', 'k', '--print-value-only'])).stdout.trim(), 'v', 'a linearizable read with a learner');

  const remove = await etcdctl(e, ['member', 'remove', id]);
  t.match(remove.stdout, new RegExp(`Member +${id} removed from cluster `), remove.stderr);
  t.equal((await members(e)).length, 1);
  t.match((await etcdctl(e, ['member', 'remove', id])).stderr, /etcdserver: member not found/);
  t.match((await etcdctl(e, ['member', 'update', 'abc', '--peer-urls=http://127.0.0.1:4'])).stderr, /etcdserver: member not found/);

  // Strict reconfiguration (etcd's default): a lone member may take a second voter, but not a
  // third while the second has not started.
  const voter = await etcdctl(e, ['member', 'add', 'v2', '--peer-urls=http://127.0.0.1:5']);
  t.match(voter.stdout, / added to cluster /, voter.stderr);
  const third = await etcdctl(e, ['member', 'add', 'v3', '--peer-urls=http://127.0.0.1:6']);
  t.match(third.stderr, /etcdserver: re-configuration failed due to not enough started members/);
});

t.test('three members: a removed member stops, the rest go on, it cannot come back', { skip }, async (t) => {
  const cluster = await startStrataCluster(3, { extraArgs: ['--strict-reconfig-check=false'] });
  t.teardown(() => Promise.all(cluster.map((m) => m.stop())));
  const [a, b, c] = cluster as [typeof cluster[0], typeof cluster[0], typeof cluster[0]];
  const list = await members(a.endpoint);
  t.equal(list.length, 3);
  t.ok(list.every((m) => m.status === 'started' && m.name !== ''), 'every member started');
  const hex = list.find((m) => m.peerUrls === c.peerUrl)!.id;
  const r = await etcdctl(a.endpoint, ['member', 'remove', hex]);
  t.match(r.stdout, new RegExp(`Member +${hex} removed from cluster `), r.stderr);
  await until('the removed member exits by itself',
    async () => (c.process().exitCode !== null || c.process().signalCode !== null ? true : undefined), 20_000);
  t.match(c.log(), /the member has been permanently removed from the cluster/);
  for (const m of [a, b]) t.equal((await members(m.endpoint)).length, 2, `${m.endpoint} lists two members`);
  // If the removed member led, the other two elect a leader first.
  await until('two members keep a quorum',
    async () => ((await etcdctl(b.endpoint, ['put', 'after', 'removal'])).stdout.trim() === 'OK' ? true : undefined));
  t.equal((await etcdctl(a.endpoint, ['get', 'after', '--print-value-only'])).stdout.trim(), 'removal');
  await t.rejects(c.restart(), /permanently removed/, 'a removed member does not start again');
});

t.test('members join a running cluster with --initial-cluster-state existing, as etcd runbooks do', { skip }, async (t) => {
  const m1 = await startStrata({ name: 'm1' });
  t.teardown(() => m1.stop());
  t.equal((await etcdctl(m1.endpoint, ['put', 'before', 'join'])).stdout.trim(), 'OK');

  const join = async (name: string, learner: boolean, cluster: string) => {
    const peerPort = await freePort();
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const add = await etcdctl(m1.endpoint, ['member', 'add', name, `--peer-urls=${peerUrl}`, ...(learner ? ['--learner'] : [])]);
    t.match(add.stdout, / added to cluster /, add.stderr);
    // etcdctl prints the flags the new member needs; the test passes the same.
    t.match(add.stdout, new RegExp(`ETCD_INITIAL_CLUSTER=".*${name}=${peerUrl}.*"`));
    const m = await startStrata({
      name, peerPort, initialCluster: `${cluster},${name}=${peerUrl}`, extraArgs: ['--initial-cluster-state=existing'],
    });
    t.teardown(() => m.stop());
    return { m, id: addedId(add.stdout) };
  };

  const { m: m2, id: id2 } = await join('m2', false, `m1=${m1.peerUrl}`);
  t.match(m2.log(), /joining the cluster/);
  t.match(m2.log(), /installing a snapshot from the leader/, 'the keyspace came as a snapshot');
  t.equal((await etcdctl(m2.endpoint, ['get', 'before', '--print-value-only', '--consistency=s'])).stdout.trim(), 'join',
    'what was written before the join is there');
  t.equal((await etcdctl(m2.endpoint, ['put', 'via', 'm2'])).stdout.trim(), 'OK', 'a write through the new member');
  t.equal((await etcdctl(m1.endpoint, ['get', 'via', '--print-value-only'])).stdout.trim(), 'm2');
  for (const m of [m1, m2]) {
    const list = await members(m.endpoint);
    t.same(list.map((x) => [x.status, x.name, x.clientUrls]).sort(),
      [['started', 'm1', m1.clientUrl], ['started', 'm2', m2.clientUrl]], `${m.endpoint}: both started, with client URLs`);
    t.ok(list.some((x) => x.id === id2));
  }
  await m2.kill9();
  await m2.restart();
  t.equal((await etcdctl(m2.endpoint, ['get', 'via', '--print-value-only'])).stdout.trim(), 'm2',
    'the joined member restarts from its own data dir');

  const { m: m3, id: id3 } = await join('m3', true, `m1=${m1.peerUrl},m2=${m2.peerUrl}`);
  t.match((await members(m1.endpoint)).find((x) => x.id === id3), { status: 'started', name: 'm3', isLearner: true });
  // A learner serves Status and serializable reads alone (etcd's isRPCSupportedForLearner).
  const status = await etcdctl(m3.endpoint, ['endpoint', 'status', '-w', 'json']);
  t.match(status.stdout, /"isLearner":true/, status.stderr);
  t.equal((await etcdctl(m3.endpoint, ['get', 'before', '--print-value-only', '--consistency=s'])).stdout.trim(), 'join');
  t.match((await etcdctl(m3.endpoint, ['put', 'no', 'learner'])).stderr, /etcdserver: rpc not supported for learner/);
  t.match((await etcdctl(m3.endpoint, ['get', 'before'])).stderr, /etcdserver: rpc not supported for learner/);
  const promote = await until('the learner promoted', async () => {
    const r = await etcdctl(m1.endpoint, ['member', 'promote', id3]);
    return r.code === 0 ? r : undefined;
  });
  t.match(promote.stdout, new RegExp(`Member +${id3} promoted in cluster `));
  t.match((await members(m3.endpoint)).find((x) => x.id === id3), { isLearner: false }, 'a voter now');
  t.equal((await etcdctl(m3.endpoint, ['put', 'three', 'voters'])).stdout.trim(), 'OK');
  t.equal((await etcdctl(m1.endpoint, ['get', 'three', '--print-value-only'])).stdout.trim(), 'voters');

  // Removed while it was down: the first member it calls tells it so, and it stops.
  await m2.kill9();
  // If m2 led, m1 and m3 elect a leader first; a removal that timed out may still have applied.
  const rm = await until('m2 removed', async () => {
    const r = await etcdctl(m1.endpoint, ['member', 'remove', id2]);
    return r.code === 0 || /member not found/.test(r.stderr) ? r : undefined;
  });
  t.notOk((await members(m1.endpoint)).some((x) => x.id === id2), `m2 removed: ${rm.stdout}${rm.stderr}`);
  await t.rejects(m2.restart(), /exited/, 'the removed member stops by itself');
  t.match(m2.log(), /a member says this member was removed from the cluster/);
  await until('the other two go on',
    async () => ((await etcdctl(m3.endpoint, ['put', 'two', 'left'])).stdout.trim() === 'OK' ? true : undefined));
});
