/**
 * Shared fixture for the gRPC transport tests: a GrpcServer on 127.0.0.1:0 with a tiny in-memory
 * KV (Range and Put only, exact keys and prefix ranges, no MVCC history) plus a few test services,
 * and a @grpc/grpc-js client built by @grpc/proto-loader from the vendored protos. The KV exists to
 * carry real etcd messages over the wire; it is not strata's KV.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { codecFor, EtcdError } from '../../src/api/index.js';
import type { KeyValue } from '../../src/api/index.js';
import { compareBytes } from '../../src/base/index.js';
import { GrpcServer, unary } from '../../src/runtime/node/grpc-server.js';
import type { GrpcServerOptions, MethodDefinition } from '../../src/runtime/node/grpc-server.js';

export const protoDir = fileURLToPath(new URL('../../../src/api/proto/', import.meta.url));

/** A map of keys (as latin1 strings, so any byte survives) to KeyValues, revision-stamped. */
export class MemoryKv {
  readonly #kvs = new Map<string, KeyValue>();
  revision = 1;

  methods(): Record<string, MethodDefinition> {
    return {
      Range: unary(codecFor('etcdserverpb.RangeRequest'), codecFor('etcdserverpb.RangeResponse'),
        (req) => {
          if (req.key.length === 0) throw new EtcdError('ErrEmptyKey');
          const kvs = this.#range(req.key, req.range_end);
          const limited = req.limit > 0 ? kvs.slice(0, req.limit) : kvs;
          return {
            header: this.#header(), kvs: req.count_only ? [] : limited,
            more: limited.length < kvs.length, count: kvs.length,
          };
        }),
      Put: unary(codecFor('etcdserverpb.PutRequest'), codecFor('etcdserverpb.PutResponse'),
        (req) => {
          if (req.key.length === 0) throw new EtcdError('ErrEmptyKey');
          const id = Buffer.from(req.key).toString('latin1');
          const prev = this.#kvs.get(id);
          this.revision++;
          this.#kvs.set(id, {
            key: Uint8Array.from(req.key), value: Uint8Array.from(req.value), lease: req.lease,
            create_revision: prev?.create_revision ?? this.revision, mod_revision: this.revision,
            version: (prev?.version ?? 0) + 1,
          });
          return { header: this.#header(), ...(req.prev_kv && prev !== undefined && { prev_kv: prev }) };
        }),
    };
  }

  #header(): { cluster_id: bigint; member_id: bigint; revision: number; raft_term: number } {
    return { cluster_id: 0xfedcba9876543210n, member_id: 2n ** 64n - 1n, revision: this.revision,
      raft_term: 7 };
  }

  #range(key: Uint8Array, end: Uint8Array): KeyValue[] {
    const all = [...this.#kvs.values()].sort((a, b) => compareBytes(a.key, b.key));
    if (end.length === 0) return all.filter((kv) => compareBytes(kv.key, key) === 0);
    const toEnd = end.length === 1 && end[0] === 0;
    return all.filter((kv) => compareBytes(kv.key, key) >= 0
      && (toEnd || compareBytes(kv.key, end) < 0));
  }
}

export interface Started {
  server: GrpcServer;
  port: number;
  address: string;
}

export async function startServer(
  services: Record<string, Record<string, MethodDefinition>>, options: GrpcServerOptions = {},
): Promise<Started> {
  const server = new GrpcServer(options);
  for (const [name, methods] of Object.entries(services)) server.addService(name, methods);
  const port = await server.listen(0, '127.0.0.1');
  return { server, port, address: `127.0.0.1:${port}` };
}

let loaded: grpc.GrpcObject | undefined;

/** grpc-js service constructors from the vendored protos, as the etcd3 client loads its own. */
export function etcdProto(): grpc.GrpcObject {
  loaded ??= grpc.loadPackageDefinition(protoLoader.loadSync(['rpc.proto'], {
    includeDirs: [protoDir], keepCase: true, longs: String, enums: Number, defaults: true,
    oneofs: true,
  }));
  return loaded;
}

type Ctor = new (address: string, creds: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions) => grpc.Client;

export function etcdClient(service: string, address: string,
  options: grpc.ChannelOptions = {}): grpc.Client & Record<string, (...args: unknown[]) => unknown> {
  const pkg = etcdProto()['etcdserverpb'] as grpc.GrpcObject;
  const ctor = pkg[service] as unknown as Ctor;
  return new ctor(address, grpc.credentials.createInsecure(), options) as grpc.Client
    & Record<string, (...args: unknown[]) => unknown>;
}

/** Promisified unary call on a proto-loader client. */
export function call<T>(client: Record<string, (...args: unknown[]) => unknown>, method: string,
  request: unknown, options: grpc.CallOptions = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = client[method];
    if (fn === undefined) throw new Error(`no method ${method}`);
    fn.call(client, request, new grpc.Metadata(), options,
      (err: grpc.ServiceError | null, res: T) => (err !== null ? reject(err) : resolve(res)));
  });
}

/** A unary call with raw bytes in and out, for requests no codec would produce. */
export function rawUnary(address: string, path: string, body: Buffer,
  options: grpc.CallOptions = {}): Promise<Buffer> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, new grpc.Metadata(),
      options, (err, res) => (err !== null ? reject(err) : resolve(res as Buffer)));
  }).finally(() => client.close());
}
