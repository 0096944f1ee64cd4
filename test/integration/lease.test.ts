/**
 * Leases through the etcd3 npm client (grpc-js underneath) against a strata member over a real
 * socket: a lease kept alive by the client's keepalive stream outlives its TTL with its keys, and
 * once keepalives stop the leader expires it and its keys go in one revision; client-chosen ids
 * and etcd's errors; revoke deletes every attached key in one revision; and leases survive a
 * kill -9 and restart (long ones keep their keys and TTL, short ones still expire afterwards).
 * Waits are polls with a deadline, so a slow machine only makes the test slower, never wrong.
 */
import t from 'tap';
import { Etcd3 } from 'etcd3';
import { startStrata } from '../helpers/strata-server.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it holds or `timeoutMs` passes; returns whether it held. */
async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await sleep(100);
  }
  return check();
}

t.test('leases through the etcd3 client', async (t) => {
  const server = await startStrata();
  t.teardown(() => server.stop());
  const client = new Etcd3({ hosts: server.clientUrl });
  t.teardown(() => client.close());
  const ttlOf = async (id: string): Promise<number> =>
    Number((await client.leaseClient.leaseTimeToLive({ ID: id })).TTL);

  await t.test('keepalives keep a lease and its keys past the TTL; without them it expires',
    async (t) => {
      const lease = client.lease(2);
      const id = await lease.grant();
      await lease.put('kept').value('v');
      let renewed = 0;
      lease.on('keepaliveSucceeded', () => { renewed++; });
      await sleep(4_500);
      t.ok(renewed >= 2, `the client renewed the lease (${renewed} keepalives answered)`);
      t.equal(await client.get('kept').string(), 'v', 'the key outlived the TTL');
      const ttl = await ttlOf(id);
      t.ok(ttl >= 0 && ttl <= 2, `remaining TTL ${ttl} is within the granted 2 s`);
      lease.release();
      const before = Number((await client.kv.range({ key: Buffer.from('kept') })).header.revision);
      t.ok(await eventually(async () => (await client.get('kept').string()) === null, 10_000),
        'the key is deleted once keepalives stop');
      t.equal(await ttlOf(id), -1, 'TimeToLive of the expired lease is -1');
      const after = Number((await client.kv.range({ key: Buffer.from('kept') })).header.revision);
      t.equal(after, before + 1, 'the expiry took exactly one revision');
      const once = await client.leaseClient.leaseGrant({ TTL: 30 });
      t.equal(once.TTL, '30');
    });

  await t.test('a lost lease is reported to the client', async (t) => {
    const lease = client.lease(2);
    const id = await lease.grant();
    const lost = new Promise<Error>((resolve) => lease.on('lost', resolve));
    await client.leaseClient.leaseRevoke({ ID: id });
    const err = await Promise.race([lost, sleep(8_000).then(() => undefined)]);
    t.ok(err !== undefined, `lost fired: ${String(err)}`);
    lease.release();
  });

  await t.test('client-chosen ids, minimum TTL and etcd errors', async (t) => {
    const granted = await client.leaseClient.leaseGrant({ ID: '1234567', TTL: 1 });
    t.equal(granted.ID, '1234567');
    t.equal(granted.TTL, '2', 'raised to the minimum TTL');
    await t.rejects(client.leaseClient.leaseGrant({ ID: '1234567', TTL: 10 }),
      { message: /etcdserver: lease already exists/ });
    await t.rejects(client.leaseClient.leaseGrant({ TTL: '9000000001' }),
      { message: /etcdserver: too large lease TTL/ });
    await t.rejects(client.leaseClient.leaseRevoke({ ID: '999' }),
      { message: /etcdserver: requested lease not found/ });
    await t.rejects(client.put('orphan').value('x').lease('999').exec(),
      { message: /etcdserver: requested lease not found/ });
    const list = await client.leaseClient.leaseLeases({});
    t.ok(list.leases.some((l) => l.ID === '1234567'), 'LeaseLeases lists the lease');
  });

  await t.test('revoke deletes every attached key in one revision', async (t) => {
    const lease = client.lease(60, { autoKeepAlive: false });
    const id = await lease.grant();
    for (const k of ['r/a', 'r/b', 'r/c']) await lease.put(k).value(k);
    await client.put('r/free').value('stays');
    const ttl = await client.leaseClient.leaseTimeToLive({ ID: id, keys: true });
    t.same(ttl.keys.map((k) => k.toString()).sort(), ['r/a', 'r/b', 'r/c']);
    t.equal(ttl.grantedTTL, '60');
    const before = Number((await client.kv.range({ key: Buffer.from('r/') })).header.revision);
    const revoked = await client.leaseClient.leaseRevoke({ ID: id });
    t.equal(Number(revoked.header.revision), before + 1, 'one revision for three deletes');
    t.same(await client.getAll().prefix('r/').keys(), ['r/free']);
  });

  await t.test('leases survive kill -9 and restart', async (t) => {
    const long = client.lease(600, { autoKeepAlive: false });
    const longId = await long.grant();
    await long.put('long').value('v');
    const short = client.lease(3, { autoKeepAlive: false });
    const shortId = await short.grant();
    await short.put('short').value('v');
    await server.kill9();
    await server.restart();
    const fresh = new Etcd3({ hosts: server.clientUrl });
    t.teardown(() => fresh.close());
    const ttl = await fresh.leaseClient.leaseTimeToLive({ ID: longId, keys: true });
    t.ok(Number(ttl.TTL) > 590 && Number(ttl.TTL) <= 601, `long lease keeps its TTL: ${ttl.TTL}`);
    t.same(ttl.keys.map((k) => k.toString()), ['long']);
    t.equal(await fresh.get('long').string(), 'v');
    t.ok(await eventually(async () => (await fresh.get('short').string()) === null, 10_000),
      'the short lease still expires after the restart');
    t.equal(Number((await fresh.leaseClient.leaseTimeToLive({ ID: shortId })).TTL), -1);
    long.release();
    short.release();
  });
});
