/**
 * The JSON gateway's routing table: every path etcd's grpc-gateway serves under `/v3/`
 * (spec §2, the 3.5.10+ set the spec recommends), mapped to the gRPC method it calls and the JSON
 * codecs of that method's messages. The gateway calls the very handler the gRPC server has
 * registered for the method, so a service is reachable over HTTP as soon as it is over gRPC;
 * a path whose method is not registered (yet) answers Unimplemented, as etcd's gateway does for
 * a method its server lacks.
 */
import {
  jsonCodecByName, jsonCodecFor, protoRoot, type JsonCodec, type RangeRequest,
} from '../../src/api/index.js';

export interface GatewayRoute {
  /** The path under the version prefix, e.g. `kv/range` for `POST /v3/kv/range`. */
  readonly path: string;
  /** gRPC service and method, e.g. `etcdserverpb.KV` and `Range`. */
  readonly service: string;
  readonly method: string;
  readonly request: JsonCodec<unknown>;
  readonly response: JsonCodec<unknown>;
  /** Keep the request stream open after the body ends (Watch: see spec §4.7.5). */
  readonly holdOpen: boolean;
}

/** [path, service (without package), method]: etcd's gateway annotations, restated. */
const TABLE: readonly (readonly [string, string, string])[] = [
  ['kv/range', 'KV', 'Range'],
  ['kv/put', 'KV', 'Put'],
  ['kv/deleterange', 'KV', 'DeleteRange'],
  ['kv/txn', 'KV', 'Txn'],
  ['kv/compaction', 'KV', 'Compact'],
  ['watch', 'Watch', 'Watch'],
  ['lease/grant', 'Lease', 'LeaseGrant'],
  ['lease/revoke', 'Lease', 'LeaseRevoke'],
  ['kv/lease/revoke', 'Lease', 'LeaseRevoke'],
  ['lease/keepalive', 'Lease', 'LeaseKeepAlive'],
  ['lease/timetolive', 'Lease', 'LeaseTimeToLive'],
  ['kv/lease/timetolive', 'Lease', 'LeaseTimeToLive'],
  ['lease/leases', 'Lease', 'LeaseLeases'],
  ['kv/lease/leases', 'Lease', 'LeaseLeases'],
  ['cluster/member/add', 'Cluster', 'MemberAdd'],
  ['cluster/member/remove', 'Cluster', 'MemberRemove'],
  ['cluster/member/update', 'Cluster', 'MemberUpdate'],
  ['cluster/member/list', 'Cluster', 'MemberList'],
  ['cluster/member/promote', 'Cluster', 'MemberPromote'],
  ['maintenance/alarm', 'Maintenance', 'Alarm'],
  ['maintenance/status', 'Maintenance', 'Status'],
  ['maintenance/defragment', 'Maintenance', 'Defragment'],
  ['maintenance/hash', 'Maintenance', 'Hash'],
  ['maintenance/hashkv', 'Maintenance', 'HashKV'],
  ['maintenance/snapshot', 'Maintenance', 'Snapshot'],
  ['maintenance/transfer-leadership', 'Maintenance', 'MoveLeader'],
  ['maintenance/downgrade', 'Maintenance', 'Downgrade'],
  ['auth/enable', 'Auth', 'AuthEnable'],
  ['auth/disable', 'Auth', 'AuthDisable'],
  ['auth/status', 'Auth', 'AuthStatus'],
  ['auth/authenticate', 'Auth', 'Authenticate'],
  ['auth/user/add', 'Auth', 'UserAdd'],
  ['auth/user/get', 'Auth', 'UserGet'],
  ['auth/user/list', 'Auth', 'UserList'],
  ['auth/user/delete', 'Auth', 'UserDelete'],
  ['auth/user/changepw', 'Auth', 'UserChangePassword'],
  ['auth/user/grant', 'Auth', 'UserGrantRole'],
  ['auth/user/revoke', 'Auth', 'UserRevokeRole'],
  ['auth/role/add', 'Auth', 'RoleAdd'],
  ['auth/role/get', 'Auth', 'RoleGet'],
  ['auth/role/list', 'Auth', 'RoleList'],
  ['auth/role/delete', 'Auth', 'RoleDelete'],
  ['auth/role/grant', 'Auth', 'RoleGrantPermission'],
  ['auth/role/revoke', 'Auth', 'RoleRevokePermission'],
];

/** The routes by path, their message types read from the vendored service definitions. */
export function gatewayRoutes(): ReadonlyMap<string, GatewayRoute> {
  const routes = new Map<string, GatewayRoute>();
  for (const [path, serviceName, methodName] of TABLE) {
    const service = `etcdserverpb.${serviceName}`;
    const m = protoRoot.lookupService(service).methods[methodName];
    if (m === undefined) throw new Error(`gateway route ${path}: no method ${service}/${methodName}`);
    const typeName = (t: string): string => (t.includes('.') ? t : `etcdserverpb.${t}`);
    routes.set(path, {
      path, service, method: methodName,
      request: jsonCodecByName(typeName(m.requestType)),
      response: jsonCodecByName(typeName(m.responseType)),
      holdOpen: path === 'watch',
    });
  }
  return routes;
}

/** What the health check reads: the member's view of leadership and alarms, and a read. */
export interface HealthSource {
  readonly leader: bigint;
  readonly alarms: readonly { readonly alarm: string }[];
  /** A linearizable read (etcd's health check ranges one key through raft). */
  range(request: RangeRequest): Promise<unknown>;
}

const HEALTH_READ = jsonCodecFor('etcdserverpb.RangeRequest').fromJson({
  key: 'aGVhbHRo', limit: 1, keys_only: true,
});

/**
 * etcd 3.4's `/health`: unhealthy while an alarm is raised (NOSPACE above all) or there is no
 * leader, otherwise healthy if a linearizable read succeeds. The read's wait is bounded by the
 * front's request timeout.
 */
export async function checkHealth(s: HealthSource):
  Promise<{ readonly healthy: boolean; readonly reason?: string }> {
  if (s.alarms.length > 0) {
    return { healthy: false, reason: `alarms: ${s.alarms.map((a) => a.alarm).join(',')}` };
  }
  if (s.leader === 0n) return { healthy: false, reason: 'no leader' };
  try {
    await s.range(HEALTH_READ);
    return { healthy: true };
  } catch (err) {
    return { healthy: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

/** What the metric gauges read, from the front and the services (structurally typed). */
export interface MetricFacts {
  readonly front: {
    readonly leader: bigint; readonly memberId: bigint; readonly commitIndex: number;
    readonly appliedIndex: number; readonly revision: number;
    readonly proposalsPending: number; readonly proposalsFailed: number;
    readonly leaderChanges: number; readonly keysPut: number; readonly keysDeleted: number;
  };
  status(): Promise<{ readonly dbSize: number; readonly dbSizeInUse: number }>;
  range(request: RangeRequest): Promise<{ readonly count: number }>;
  compacted(): number;
}

const COUNT_ALL_KEYS = jsonCodecFor('etcdserverpb.RangeRequest').fromJson({
  key: 'AA==', range_end: 'AA==', count_only: true, serializable: true,
});

/**
 * The gauges' readers. Sizes come from Status (read at scrape, as etcd reads its db size on a
 * timer); the key count is a serializable count over every key, paid only by a scrape.
 */
export function metricReaders(f: MetricFacts) {
  let sizes = { dbSize: 0, dbSizeInUse: 0 };
  return {
    leader: () => f.front.leader,
    memberId: () => f.front.memberId,
    committedIndex: () => f.front.commitIndex,
    appliedIndex: () => f.front.appliedIndex,
    currentRevision: () => f.front.revision,
    proposalsPending: () => f.front.proposalsPending,
    proposalsFailed: () => f.front.proposalsFailed,
    leaderChanges: () => f.front.leaderChanges,
    keysPut: () => f.front.keysPut,
    keysDeleted: () => f.front.keysDeleted,
    compactRevision: () => Math.max(0, f.compacted()),
    /** Refreshes the sizes; call before a scrape reads them. */
    refresh: async (): Promise<void> => { sizes = await f.status(); },
    dbSizeBytes: () => sizes.dbSize,
    dbSizeInUseBytes: () => sizes.dbSizeInUse,
    keys: async (): Promise<number> => (await f.range(COUNT_ALL_KEYS)).count,
  };
}
