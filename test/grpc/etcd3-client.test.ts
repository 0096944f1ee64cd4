/**
 * A transport test with the `etcd3` npm client (grpc-js underneath, its own copy of the protos):
 * the client talks to the node:http2 gRPC server on 127.0.0.1:0, where a small in-memory KV
 * (test/grpc/fixture.ts) answers Range and Put and test handlers answer LeaseGrant,
 * LeaseKeepAlive (a bidi stream) and DeleteRange (with an etcd error). It proves that an
 * unmodified etcd client library can call unary and bidi methods, that binary bytes and full
 * 64-bit lease IDs survive the round trip, and that catalog errors map to the client's typed
 * errors. It says nothing about strata's KV semantics.
 */
import { Etcd3, EtcdPermissionDeniedError } from 'etcd3';
import t from 'tap';
import { EtcdError, codecFor } from '../../src/api/index.js';
import { bidi, unary } from '../../src/runtime/node/grpc-server.js';
import { MemoryKv, startServer } from './fixture.js';

const LEASE_ID = 0x7edc_ba98_7654_3210n;
const kv = new MemoryKv();
const keepalives: bigint[] = [];

const { server, address } = await startServer({
  'etcdserverpb.KV': {
    ...kv.methods(),
    DeleteRange: unary(codecFor('etcdserverpb.DeleteRangeRequest'),
      codecFor('etcdserverpb.DeleteRangeResponse'), () => {
        throw new EtcdError('ErrPermissionDenied');
      }),
  },
  'etcdserverpb.Lease': {
    LeaseGrant: unary(codecFor('etcdserverpb.LeaseGrantRequest'),
      codecFor('etcdserverpb.LeaseGrantResponse'), (req) => ({
        header: { revision: kv.revision }, ID: LEASE_ID, TTL: req.TTL,
      })),
    LeaseKeepAlive: bidi(codecFor('etcdserverpb.LeaseKeepAliveRequest'),
      codecFor('etcdserverpb.LeaseKeepAliveResponse'), async (call) => {
        for await (const req of call.requests) {
          keepalives.push(req.ID);
          call.write({ header: { revision: kv.revision }, ID: req.ID, TTL: 42 });
        }
      }),
    LeaseRevoke: unary(codecFor('etcdserverpb.LeaseRevokeRequest'),
      codecFor('etcdserverpb.LeaseRevokeResponse'), () => ({ header: { revision: kv.revision } })),
  },
});
const client = new Etcd3({ hosts: address });
t.teardown(async () => {
  client.close();
  await server.close();
});

t.test('put and get through etcd3, text and binary', async (t) => {
  await client.put('greeting').value('hello');
  t.equal(await client.get('greeting').string(), 'hello');
  const binary = Buffer.from([0, 1, 0xfe, 0xff, 0x80]);
  await client.put(Buffer.from([0xff, 0])).value(binary);
  const back = await client.get(Buffer.from([0xff, 0])).buffer();
  t.same(back === null ? null : [...back], [...binary]);
  t.equal(await client.get('absent').string(), null);
});

t.test('prefix range and count through etcd3', async (t) => {
  await client.put('p/1').value('a');
  await client.put('p/2').value('b');
  await client.put('q/1').value('c');
  t.same(await client.getAll().prefix('p/').strings(), { 'p/1': 'a', 'p/2': 'b' });
  t.equal(await client.getAll().prefix('p/').count(), 2);
});

t.test('lease grant, keepalive over a bidi stream, and a put under the lease', async (t) => {
  const lease = client.lease(30, { autoKeepAlive: false });
  t.equal(await lease.grant(), LEASE_ID.toString());
  const res = await lease.keepaliveOnce();
  t.equal(res.TTL, '42');
  t.equal(res.ID, LEASE_ID.toString());
  t.same(keepalives, [LEASE_ID]);
  await lease.put('leased').value('v');
  const got = await client.get('leased').exec();
  t.equal(got.kvs[0]?.lease, LEASE_ID.toString());
  await lease.revoke();
});

t.test('a catalog error becomes the etcd3 client typed error', async (t) => {
  const err = await client.delete().key('greeting').exec().catch((e: unknown) => e);
  t.equal((err as Error).constructor.name, EtcdPermissionDeniedError.name);
  t.equal((err as Error).message, '7 PERMISSION_DENIED: etcdserver: permission denied');
});
