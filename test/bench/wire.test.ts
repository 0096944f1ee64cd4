/**
 * The bench's hand-built gRPC frames decode, with protobufjs reading etcd3's own copy of etcd's
 * rpc.proto, to exactly the requests meant; and its readers get the fields the bench needs out
 * of responses that protobufjs encoded (lease IDs as raw varints round-trip to the same ID,
 * watch events' values, created / canceled flags).
 */
import t from 'tap';
import protobuf from 'protobufjs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  deleteFrame, leaseGrantFrame, leaseKeepAliveFrame, putFrame, rangeFrame, readKeepAliveTtl,
  readLeaseGrant, readWatchResponse, txnPutFrame, watchCreateFrame,
} from '../../src/cli/bench/wire.js';
import { MessageSplitter } from '../../src/cli/bench/grpc-client.js';

const require = createRequire(import.meta.url);
const protoDir = join(dirname(require.resolve('etcd3/package.json')), 'proto');
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(protoDir, target.replace(/^.*\//, ''));
root.loadSync('rpc.proto', { keepCase: true });
const type = (name: string): protobuf.Type => root.lookupType(`etcdserverpb.${name}`);

function body(frame: Buffer): Uint8Array {
  if (frame[0] !== 0) throw new Error('compressed flag set');
  if (frame.readUInt32BE(1) !== frame.length - 5) throw new Error('bad length prefix');
  return frame.subarray(5);
}

const obj = (name: string, frame: Buffer): Record<string, unknown> =>
  type(name).toObject(type(name).decode(body(frame)), { longs: String, bytes: String, defaults: false });
const b64 = (s: string): string => Buffer.from(s).toString('base64');

t.test('requests decode to what was meant', async (t) => {
  const value = Buffer.alloc(300, 0x61);
  t.same(obj('PutRequest', putFrame(Buffer.from('k1'), value)), { key: b64('k1'), value: value.toString('base64') });
  t.same(obj('PutRequest', putFrame(Buffer.from('k'), Buffer.alloc(0))), { key: b64('k') });
  t.same(obj('RangeRequest', rangeFrame(Buffer.from('a'), undefined, false)), { key: b64('a') });
  t.same(obj('RangeRequest', rangeFrame(Buffer.from('a'), Buffer.from('b'), true)),
    { key: b64('a'), range_end: b64('b'), serializable: true });
  t.same(obj('DeleteRangeRequest', deleteFrame(Buffer.from('d'))), { key: b64('d') });
  t.same(obj('TxnRequest', txnPutFrame([{ key: Buffer.from('x'), value: Buffer.from('1') },
    { key: Buffer.from('y'), value: value }])), {
    success: [{ request_put: { key: b64('x'), value: b64('1') } },
      { request_put: { key: b64('y'), value: value.toString('base64') } }],
  });
  t.same(obj('LeaseGrantRequest', leaseGrantFrame(600)), { TTL: '600' });
  t.same(obj('WatchRequest', watchCreateFrame(Buffer.from('p/'), Buffer.from('p0'))),
    { create_request: { key: b64('p/'), range_end: b64('p0') } });
});

t.test('a lease ID read as raw varint bytes round-trips into LeaseKeepAlive', async (t) => {
  for (const id of ['7587869348572348923', '1', '9223372036854775807']) {
    const grant = type('LeaseGrantResponse');
    const msg = grant.encode(grant.fromObject({ header: { revision: 5 }, ID: id, TTL: 600 })).finish();
    const read = readLeaseGrant(msg);
    t.equal(read.error, '');
    if (read.id === undefined) throw new Error('no id');
    t.same(obj('LeaseKeepAliveRequest', leaseKeepAliveFrame(read.id)), { ID: id });
  }
  const bad = type('LeaseGrantResponse');
  t.equal(readLeaseGrant(bad.encode(bad.fromObject({ error: 'no space' })).finish()).error, 'no space');
  const ka = type('LeaseKeepAliveResponse');
  t.equal(readKeepAliveTtl(ka.encode(ka.fromObject({ ID: '3', TTL: 42 })).finish()), 42);
  t.equal(readKeepAliveTtl(ka.encode(ka.fromObject({ ID: '3' })).finish()), 0);
});

t.test('watch responses: created, canceled, event values', async (t) => {
  const w = type('WatchResponse');
  const created = w.encode(w.fromObject({ header: { revision: 1 }, watch_id: 3, created: true })).finish();
  t.same(readWatchResponse(created, () => t.fail('no events')), { created: true, canceled: false, events: 0 });
  const values: string[] = [];
  const events = w.encode(w.fromObject({
    watch_id: 3, events: [
      { kv: { key: b64('a'), value: b64('one'), mod_revision: 9 } },
      { type: 'DELETE', kv: { key: b64('b'), mod_revision: 10 } },
      { kv: { key: b64('c'), value: b64('three') }, prev_kv: { key: b64('c'), value: b64('old') } },
    ],
  })).finish();
  const summary = readWatchResponse(events, (buf, s, e) => values.push(Buffer.from(buf.subarray(s, e)).toString()));
  t.same(summary, { created: false, canceled: false, events: 3 });
  t.same(values, ['one', 'three']);
  const canceled = w.encode(w.fromObject({ canceled: true, cancel_reason: 'x' })).finish();
  t.equal(readWatchResponse(canceled, () => undefined).canceled, true);
});

t.test('MessageSplitter reassembles frames split anywhere', async (t) => {
  const small = [putFrame(Buffer.from('a'), Buffer.alloc(300, 1)), putFrame(Buffer.from('b'), Buffer.alloc(3)),
    leaseGrantFrame(1)];
  const large = [putFrame(Buffer.from('a'), Buffer.alloc(70_000, 1)), ...small];
  for (const [frames, step] of [[small, 1], [small, 2], [small, 7], [large, 1000], [large, 16_384], [large, 1e6]] as const) {
    const all = Buffer.concat(frames);
    const got: Buffer[] = [];
    const s = new MessageSplitter((m) => got.push(Buffer.from(m)));
    for (let i = 0; i < all.length; i += step) s.push(all.subarray(i, i + step));
    t.same(got.map((g) => g.toString('hex')), frames.map((f) => f.subarray(5).toString('hex')), `step ${step}`);
    t.ok(s.idle);
  }
});
