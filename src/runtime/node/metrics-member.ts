/**
 * A member's Prometheus metrics (prom-client, text format), under etcd's names where the concept
 * exists, so etcd dashboards and alerts work unchanged.
 *
 * Nothing here runs per request beyond incrementing a plain integer: gauges read their source
 * when scraped (`collect`), counters fed on the hot path are plain fields published at scrape,
 * and durations measured on other threads (WAL fsync on the raft thread, backend commits on the
 * apply thread) land in a SharedHistogram, a SharedArrayBuffer the measuring thread alone writes
 * and the main thread reads at scrape (a scrape may miss the observation being written).
 */
import client from 'prom-client';
import { assert } from '../../base/index.js';

/** etcd's buckets for fsync and backend commit durations: 1 ms doubling to 8.192 s. */
export const DISK_BUCKETS_SECONDS: readonly number[] = Array.from({ length: 14 },
  (_v, i) => 0.001 * 2 ** i);

/**
 * Histogram counts in shared memory: [bucket counts..., +Inf count, sum]. One writer thread
 * (the owner of the measured work); any thread may read.
 */
export class SharedHistogram {
  readonly buffer: SharedArrayBuffer;
  readonly bounds: readonly number[];
  readonly #cells: Float64Array;

  constructor(bounds: readonly number[], buffer?: SharedArrayBuffer) {
    assert(bounds.length > 0, 'a histogram has buckets');
    for (let i = 1; i < bounds.length; i++) {
      assert((bounds[i] as number) > (bounds[i - 1] as number), 'bucket bounds ascend');
    }
    this.bounds = bounds;
    this.buffer = buffer ?? new SharedArrayBuffer((bounds.length + 2) * 8);
    assert(this.buffer.byteLength === (bounds.length + 2) * 8, 'shared histogram size');
    this.#cells = new Float64Array(this.buffer);
  }

  observe(value: number): void {
    const cells = this.#cells;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > (b[i] as number)) i++;
    cells[i] = (cells[i] as number) + 1;
    cells[b.length + 1] = (cells[b.length + 1] as number) + value;
  }

  /** Cumulative counts per bound (then +Inf), and the sum. */
  snapshot(): { readonly cumulative: readonly number[]; readonly sum: number } {
    const cumulative: number[] = [];
    let total = 0;
    for (let i = 0; i <= this.bounds.length; i++) {
      total += this.#cells[i] as number;
      cumulative.push(total);
    }
    return { cumulative, sum: this.#cells[this.bounds.length + 1] as number };
  }
}

/**
 * Times every call of an async method of `target` into `histogram` (seconds, from the call to
 * its settling): how the raft thread measures its durable persists (etcd's WAL fsync) and the
 * apply thread its backend commits, without either class knowing about metrics.
 */
export function timeAsyncMethod<K extends string>(
  target: { [P in K]: (...args: never[]) => Promise<unknown> }, name: K, histogram: SharedHistogram,
): void {
  const original = target[name].bind(target) as (...args: unknown[]) => Promise<unknown>;
  const timed = async (...args: unknown[]): Promise<unknown> => {
    const t0 = performance.now();
    try {
      return await original(...args);
    } finally {
      histogram.observe((performance.now() - t0) / 1000);
    }
  };
  (target as Record<K, unknown>)[name] = timed;
}

/** A prom-client metric whose values come from a SharedHistogram. */
function sharedHistogramMetric(name: string, help: string, h: SharedHistogram) {
  return {
    name, help, type: 'histogram', aggregator: 'sum',
    get: async () => {
      const { cumulative, sum } = h.snapshot();
      const values = cumulative.map((value, i) => ({
        metricName: `${name}_bucket`, labels: { le: i < h.bounds.length ? String(h.bounds[i]) : '+Inf' },
        value,
      }));
      values.push({ metricName: `${name}_sum`, labels: {} as { le: string }, value: sum });
      values.push({ metricName: `${name}_count`, labels: {} as { le: string },
        value: cumulative[cumulative.length - 1] ?? 0 });
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
  };
}

/** What the member's gauges read at scrape. Optional parts appear once their service exists. */
export interface MemberMetricSources {
  readonly memberIdHex: string;
  readonly version: string;
  readonly quotaBytes: number;
  leader(): bigint;
  memberId(): bigint;
  committedIndex(): number;
  appliedIndex(): number;
  /** Called before each scrape, for sources read asynchronously. */
  refresh?(): Promise<void>;
  dbSizeBytes(): number;
  dbSizeInUseBytes(): number;
  currentRevision(): number;
  compactRevision(): number;
  /** Proposals waiting for their result, failed ones, and leader changes: the front counts them. */
  proposalsPending(): number;
  proposalsFailed(): number;
  leaderChanges(): number;
  /** Keys put and deleted by this member's store since it started. */
  keysPut?(): number;
  keysDeleted?(): number;
  keys(): Promise<number>;
  watchStreams?(): number;
  watchers?(): number;
  leases?(): number;
}

type GrpcType = 'unary' | 'server_stream' | 'bidi_stream';

/** Per-method gRPC counters, keyed by `/service/method`; written on the hot path as integers. */
interface MethodCounts {
  readonly service: string;
  readonly method: string;
  type: GrpcType;
  started: number;
  readonly handled: Map<number, number>;
}

const GRPC_CODE_NAMES = ['OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded',
  'NotFound', 'AlreadyExists', 'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition',
  'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss',
  'Unauthenticated'];

export class MemberMetrics {
  readonly registry = new client.Registry();
  readonly walFsync: SharedHistogram;
  readonly backendCommit: SharedHistogram;
  readonly #sources: MemberMetricSources;
  #receivedBytes = 0;
  #sentBytes = 0;
  readonly #methods = new Map<string, MethodCounts>();

  /** `disk`: the histograms the raft and apply threads write (created before they start). */
  constructor(s: MemberMetricSources, disk?: {
    readonly walFsync: SharedHistogram; readonly backendCommit: SharedHistogram;
  }) {
    this.walFsync = disk?.walFsync ?? new SharedHistogram(DISK_BUCKETS_SECONDS);
    this.backendCommit = disk?.backendCommit ?? new SharedHistogram(DISK_BUCKETS_SECONDS);
    this.#sources = s;
    const r = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    const gauge = (name: string, help: string, read: () => number): void => {
      new client.Gauge({ name, help, registers: r, collect() { this.set(read()); } });
    };
    const counter = (name: string, help: string, read: () => number): void => {
      new client.Counter({ name, help, registers: r, collect() { this.reset(); this.inc(read()); } });
    };
    gauge('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.',
      () => (s.leader() === 0n ? 0 : 1));
    gauge('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.',
      () => (s.leader() !== 0n && s.leader() === s.memberId() ? 1 : 0));
    counter('etcd_server_leader_changes_seen_total', 'The number of leader changes seen.',
      () => s.leaderChanges());
    gauge('etcd_server_proposals_committed_total',
      'The total number of consensus proposals committed.', () => s.committedIndex());
    gauge('etcd_server_proposals_applied_total',
      'The total number of consensus proposals applied.', () => s.appliedIndex());
    gauge('etcd_server_proposals_pending', 'The current number of pending proposals to commit.',
      () => s.proposalsPending());
    counter('etcd_server_proposals_failed_total', 'The total number of failed proposals seen.',
      () => s.proposalsFailed());
    gauge('etcd_server_quota_backend_bytes', 'Current backend storage quota size in bytes.',
      () => s.quotaBytes);
    new client.Gauge({
      name: 'etcd_server_id', labelNames: ['server_id'], registers: r,
      help: "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
      collect() { this.set({ server_id: s.memberIdHex }, 1); },
    });
    new client.Gauge({
      name: 'etcd_server_version', labelNames: ['server_version'], registers: r,
      help: "Which version is running. 1 for 'server_version' label with current version.",
      collect() { this.set({ server_version: s.version }, 1); },
    });
    new client.Gauge({
      name: 'etcd_cluster_version', labelNames: ['cluster_version'], registers: r,
      help: "Which version is running. 1 for 'cluster_version' label with current cluster version",
      collect() { this.set({ cluster_version: s.version.split('.').slice(0, 2).join('.') }, 1); },
    });
    if (s.keysPut !== undefined) counter('etcd_mvcc_put_total', 'Total number of puts seen by this member.', s.keysPut);
    if (s.keysDeleted !== undefined) counter('etcd_mvcc_delete_total', 'Total number of deletes seen by this member.', s.keysDeleted);
    gauge('etcd_mvcc_db_total_size_in_bytes',
      'Total size of the underlying database physically allocated in bytes.', () => s.dbSizeBytes());
    gauge('etcd_mvcc_db_total_size_in_use_in_bytes',
      'Total size of the underlying database logically in use in bytes.', () => s.dbSizeInUseBytes());
    gauge('etcd_debugging_mvcc_current_revision', 'The current revision of store.',
      () => s.currentRevision());
    gauge('etcd_debugging_mvcc_compact_revision', 'The revision of the last compaction in store.',
      () => s.compactRevision());
    new client.Gauge({
      name: 'etcd_debugging_mvcc_keys_total', help: 'Total number of keys.', registers: r,
      async collect() { this.set(await s.keys()); },
    });
    if (s.watchStreams !== undefined) {
      gauge('etcd_debugging_mvcc_watch_stream_total', 'Total number of watch streams.', s.watchStreams);
    }
    if (s.watchers !== undefined) {
      gauge('etcd_debugging_mvcc_watcher_total', 'Total number of watchers.', s.watchers);
    }
    if (s.leases !== undefined) {
      gauge('etcd_debugging_lease_total', 'The number of leases held by this member.', s.leases);
    }
    counter('etcd_network_client_grpc_received_bytes_total',
      'The total number of bytes received from grpc clients.', () => this.#receivedBytes);
    counter('etcd_network_client_grpc_sent_bytes_total',
      'The total number of bytes sent to grpc clients.', () => this.#sentBytes);
    this.#grpcCounters(r);
    this.registry.registerMetric(sharedHistogramMetric('etcd_disk_wal_fsync_duration_seconds',
      'The latency distributions of fsync called by WAL.', this.walFsync) as never);
    this.registry.registerMetric(sharedHistogramMetric('etcd_disk_backend_commit_duration_seconds',
      'The latency distributions of commit called by backend.', this.backendCommit) as never);
  }

  #grpcCounters(r: client.Registry[]): void {
    const methods = this.#methods;
    // Labels in name order, as Go's Prometheus client prints them (etcd's e2e tests match the text).
    const labelNames = ['grpc_method', 'grpc_service', 'grpc_type'] as const;
    new client.Counter({
      name: 'grpc_server_started_total', help: 'Total number of RPCs started on the server.',
      labelNames, registers: r,
      collect() {
        this.reset();
        for (const m of methods.values()) {
          this.inc({ grpc_method: m.method, grpc_service: m.service, grpc_type: m.type }, m.started);
        }
      },
    });
    new client.Counter({
      name: 'grpc_server_handled_total',
      help: 'Total number of RPCs completed on the server, regardless of success or failure.',
      labelNames: ['grpc_code', ...labelNames], registers: r,
      collect() {
        this.reset();
        for (const m of methods.values()) {
          for (const [code, n] of m.handled) {
            this.inc({
              grpc_code: GRPC_CODE_NAMES[code] ?? String(code),
              grpc_method: m.method, grpc_service: m.service, grpc_type: m.type,
            }, n);
          }
        }
      },
    });
  }

  received(bytes: number): void { this.#receivedBytes += bytes; }
  sent(bytes: number): void { this.#sentBytes += bytes; }

  /** A gRPC call began on `/service/method`. */
  started(path: string, kind: 'unary' | 'serverStream' | 'bidi'): void {
    const m = this.#method(path);
    m.type = kind === 'unary' ? 'unary' : kind === 'serverStream' ? 'server_stream' : 'bidi_stream';
    m.started++;
  }

  /** A gRPC call on `/service/method` ended with `code`. */
  handled(path: string, code: number): void {
    const m = this.#method(path);
    m.handled.set(code, (m.handled.get(code) ?? 0) + 1);
  }

  #method(path: string): MethodCounts {
    let m = this.#methods.get(path);
    if (m === undefined) {
      const slash = path.lastIndexOf('/');
      m = { service: path.slice(1, slash), method: path.slice(slash + 1), type: 'unary', started: 0,
        handled: new Map() };
      this.#methods.set(path, m);
    }
    return m;
  }

  async text(): Promise<{ contentType: string; body: string }> {
    await this.#sources.refresh?.();
    // prom-client prints a NaN sample as "Nan" (its event-loop lag gauges are NaN between two
    // samplings); the text format's spelling, which Go prints and strict parsers want, is "NaN".
    const body = (await this.registry.metrics()).replace(/ Nan$/gm, ' NaN');
    return { contentType: this.registry.contentType, body };
  }
}
