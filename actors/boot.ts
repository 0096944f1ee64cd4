/**
 * boot: the single entry point that opens storage, spawns the actor threads and starts the
 * servers of one strata member. It is also the module worker threads load their actors from
 * (createRaftActor, createApplyActor), because opening storage is host I/O and only this file of
 * actors/ may reach src/runtime/node.
 *
 * The pipeline (shared DESIGN.md): gRPC on the main thread -> front actor -> raft actor -> apply
 * actor -> front -> client. One LMDB env per member (`member/mvcc`) holds both the Raft log and
 * the mvcc tables, so where raft and apply share a thread (`single` and `worker` placements) an
 * append and the apply before it commit and fsync together. Serializable reads read the env on
 * the main thread directly.
 */
import { createHash } from 'node:crypto';
import {
  closeSync, createReadStream, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync,
  readFileSync, statSync, writeFileSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { open as openLmdb, type RootDatabase } from 'lmdb';
import { assert, limits, type Logger, type MemberId } from '../src/base/index.js';
import { EtcdError, codecFor } from '../src/api/index.js';
import { Applier, confStateOf, currentMembers, storedAlarms } from '../src/apply/index.js';
import { MVCC_TABLES, MvccStore, type StoredMember } from '../src/mvcc/index.js';
import { WatchHub, rangesContain, type HistoryReader } from '../src/watch/index.js';
import {
  ConsoleLogger, ENV_TABLES_MAX, GrpcServer, LmdbBackend, LmdbRaftStorage, RAFT_LOG_TABLE,
  RAFT_META_TABLE, ThreadHost, acquireEnv, bidi, importRaftLog, serverStream, unary,
  type ActorSpec, type MainActorSpec, type Placement,
} from '../src/runtime/node/index.js';
import type { AnyActor } from '../src/runtime/index.js';
import { ApplyActor } from './apply/apply-actor.js';
import { FrontActor } from './front/front-actor.js';
import { services, type HostFacts, type MemberAttributes } from './front/services.js';
import { RaftActor } from './raft/raft-actor.js';
import { PeerActor } from './peer/peer-actor.js';
import { LeaseActor } from './lease/lease-actor.js';
import { leaseService } from './front/lease-service.js';
import { LeaseIdGenerator, Lessor, minLeaseTtlSeconds } from '../src/lease/index.js';
import type { LeaseId } from '../src/base/index.js';
import { WatchActor } from './watch/watch-actor.js';
import { watchService } from './front/watch-service.js';
import { checkHealth, gatewayRoutes, metricReaders } from './front/gateway-routes.js';
import {
  ClientPort, DISK_BUCKETS_SECONDS, HttpGateway, MemberMetrics, PeerTransport, SharedHistogram,
  awaitJoinHello, commitStaged, memberIdOf, peerAddressOfUrl, closeEnvAt, crossesWire, installRaftSnapshot, releaseEnv, serverTls, acceptCheck, storedHardState, storedLogTerm,
  timeAsyncMethod,
  type Http2Acceptor, type PeerAddress, type SnapMeta, type TlsMaterial,
} from '../src/runtime/node/index.js';
import { NONE, RAFT_DEFAULTS } from '../src/raft/index.js';

/** How long a member that applied its own removal keeps serving (the answer to the remover goes out). */
const REMOVED_STOP_DELAY_MS = 1_000;

/** A new member's id as etcd's MemberAdd makes it (memberIdOf with the Unix time; never 0). */
function newMemberId(peerUrls: readonly string[]): bigint {
  const id = memberIdOf(peerUrls, String(Math.floor(Date.now() / 1000)));
  return id === 0n ? 1n : id;
}

/** What etcd 3.4 clients are told this server is (they compare it with 3.4.x). */
export const ETCD_VERSION = '3.4.23';
export const CLUSTER_VERSION = '3.4.0';

/** A member of --initial-cluster (the member table's first contents in a new data dir). */
export interface InitialMember {
  readonly id: bigint;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
}

export interface BootConfig {
  readonly name: string;
  readonly dataDir: string;
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly members: readonly InitialMember[];
  /** This member's advertised peer URLs (told to peers in the hello). */
  readonly advertisePeerUrls?: readonly string[];
  /** etcd's --strict-reconfig-check (default true). */
  readonly strictReconfigCheck?: boolean;
  /**
   * etcd's --initial-cluster-state, read only for an empty data dir: `existing` joins a running
   * cluster that added this member (MemberAdd) and learns its ids from it.
   */
  readonly initialClusterState?: 'new' | 'existing';
  /** Set by startMember: this member joined an existing cluster and has no member table yet. */
  readonly joining?: { readonly contact: bigint; readonly contactPeerUrl: string };
  /** Every --listen-client-urls address; `tls` for https ones, served with `clientTls`. */
  readonly listenClients: readonly { readonly host: string; readonly port: number; readonly tls: boolean }[];
  /** --listen-metrics-urls: /metrics and /health alone, `tls` ones with `clientTls` (as etcd). */
  readonly listenMetrics?: readonly { readonly host: string; readonly port: number; readonly tls: boolean }[];
  readonly clientTls?: TlsMaterial;
  /** Where peers reach this member (--listen-peer-urls). */
  readonly listenPeer?: PeerAddress;
  /** TLS of the peer URLs that are https (listened on and dialed). */
  readonly peerTls?: TlsMaterial;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly quotaBackendBytes: number;
  readonly maxRequestBytes: number;
  readonly maxTxnOps: number;
  /** etcd --max-concurrent-streams: per client connection, and gateway calls at once. */
  readonly maxConcurrentStreams?: number;
  readonly snapshotCount: number;
  readonly autoCompaction: { readonly mode: 'periodic' | 'revision'; readonly retention: number };
  /** Accepted etcd flags that have no effect here, with why; logged once at start. */
  readonly ignoredFlags?: readonly string[];
  /** Actor placement; `auto` by default. */
  readonly placement?: PlacementName;
  /** etcd's --backend-batch-interval and --backend-batch-limit; stagingLimits by default. */
  readonly backendBatch?: { readonly intervalMs: number; readonly entriesMax: number };
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error' | 'panic' | 'fatal';
  /** Lease expiries proposed per second at most (etcd: 1000); limits.leaseRevokesPerSecondMax by default. */
  readonly leaseRevokesPerSecondMax?: number;
}

/**
 * Where the actors run. `worker`: raft, apply, watch and lease together on ONE worker thread, the
 * front on main: request handling runs beside the write pipeline, with one thread hop each way.
 * `threads`: each of the four on its own worker thread. `single`: all on the main thread, no
 * thread hops. `auto` (the default) is `single` where the process may use at most
 * SINGLE_PLACEMENT_CORES_MAX cores and `worker` elsewhere.
 *
 * Why `auto`: a worker thread pays off only when it gets a core of its own. With two cores, main,
 * the worker, LMDB's flushes on the libuv pool and V8's GC threads already contend for both, and
 * every hop is a structured clone and a thread wake-up (in a VM, an inter-processor interrupt).
 * Measured on the project's 2-core VM, put at 64 clients, alternating runs (session 4): `worker`
 * about 120 us of server CPU per put, `single` about 92, with higher throughput too; `threads`
 * costs the most (the hops outnumber the cores).
 */
export type PlacementName = 'auto' | 'threads' | 'single' | 'worker';

/** Cores at most for which `auto` picks `single` (see PlacementName). */
export const SINGLE_PLACEMENT_CORES_MAX = 2;

/** The placement `name` stands for on a machine where the process may use `cores` cores. */
export function resolvePlacement(name: PlacementName, cores: number): Exclude<PlacementName, 'auto'> {
  if (name !== 'auto') return name;
  return cores <= SINGLE_PLACEMENT_CORES_MAX ? 'single' : 'worker';
}

/**
 * V8 copies the young generation's survivors with helper threads (parallel scavenge). Where the
 * process has at most SINGLE_PLACEMENT_CORES_MAX cores, the helpers only contend with the
 * threads doing the work: on the project's 2-core VM (put at 64 clients, alternating runs,
 * session 4) they spent about 200 ms of CPU per 6 s run while the main thread's scavenge pauses
 * stayed as long, and server CPU per put fell from about 125 us to 110 with them off. V8 reads
 * the flag at every scavenge, so turning it off at start is safe. (`--single-threaded-gc` would
 * also stop concurrent marking, but changing that after start aborts the process.)
 */
export function tuneGcForCores(cores: number): boolean {
  if (cores > SINGLE_PLACEMENT_CORES_MAX) return false;
  setFlagsFromString('--no-parallel-scavenge');
  return true;
}

function placementOf(name: Exclude<PlacementName, 'auto'>, a: {
  front: MainActorSpec; raft: ActorSpec; apply: ActorSpec; watch: ActorSpec; lease: ActorSpec;
  /** The peer actor, with other members only; always on main, beside its sockets. */
  peer: MainActorSpec | null;
}): Placement {
  const onMain = a.peer === null ? [a.front] : [a.front, a.peer];
  if (name === 'single') return { threads: [], main: [...onMain, a.raft, a.apply, a.watch, a.lease] };
  if (name === 'worker') return { threads: [{ actors: [a.raft, a.apply, a.watch, a.lease] }], main: onMain };
  return {
    threads: [{ actors: [a.raft] }, { actors: [a.apply] }, { actors: [a.watch] }, { actors: [a.lease] }],
    main: onMain,
  };
}

export interface Member {
  /** The client port actually bound (useful when 0 was asked for). */
  readonly clientPort: number;
  /** Resolves when the member stopped; rejects if an actor crashed. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/** How often a member with peers checks for a leader before it serves clients. */
const LEADER_POLL_MS = 20;


/** Where the transport dials the first of `urls` it can (peerAddressOfUrl), if any. */
function dialableAddress(urls: readonly string[]): PeerAddress | undefined {
  for (const url of urls) {
    try {
      return peerAddressOfUrl(url);
    } catch {
      // not a URL the transport dials; try the next
    }
  }
  return undefined;
}

/** Named limits of the pipeline. */
const PIPELINE = {
  pendingProposalsMax: 16_384,
  pendingReadsMax: 16_384,
  applyBatchesInFlightMax: 64,
  logKeepEntries: 5_000,
  snapshotChunkBytes: 64 * 1024,
  /** Keepalives / time-to-live questions the lease actor holds until apply catches up. */
  leaseWaitingRequestsMax: 65_536,
  watchStreamsMax: 65_536,
  watchTickMs: 100,
  /** etcd's progress notification interval: ten minutes. */
  watchProgressIntervalMs: 10 * 60_000,
  watchResponsesPerSendMax: 256,
  watchDeferredRequestsMax: 4_096,
} as const;

interface Paths {
  /** The member's directory. */
  readonly member: string;
  /** The member's env: mvcc tables and Raft log. */
  readonly mvcc: string;
  /** Where data dirs written before the shared env kept the Raft log (imported, then removed). */
  readonly legacyWal: string;
  /** A snapshot from the leader being made the new env (see installSnapshot). */
  readonly incoming: string;
}

function pathsOf(dataDir: string): Paths {
  const member = join(dataDir, 'member');
  return {
    member, mvcc: join(member, 'mvcc'), legacyWal: join(member, 'wal'), incoming: join(member, 'mvcc-incoming'),
  };
}

/**
 * What a data dir says about its member (member/identity.json), written at its first start: the
 * member and cluster ids, and for a member that joined a running cluster, the member that first
 * reached it (the one to answer until a snapshot brings the member table).
 */
interface Identity {
  readonly memberId: string;
  readonly clusterId: string;
  readonly contact?: { readonly id: string; readonly peerUrl: string };
}

const IDENTITY_FILE = 'identity.json';

/**
 * The member's ids: from its data dir once it has one; from the flags for a new cluster's member
 * (etcd derives them from --initial-cluster); from the cluster itself for a member joining with
 * --initial-cluster-state existing (it waits until a member reaches it, see awaitJoinHello).
 */
async function withIdentity(config: BootConfig, logger: Logger): Promise<BootConfig> {
  const paths = pathsOf(config.dataDir);
  const file = join(paths.member, IDENTITY_FILE);
  let identity: Identity;
  if (existsSync(file)) {
    identity = JSON.parse(readFileSync(file, 'utf8')) as Identity;
  } else if (config.initialClusterState === 'existing' && !existsSync(paths.mvcc)) {
    assert(config.listenPeer !== undefined, 'a joining member listens for its peers');
    const known = new Set(config.members.filter((m) => m.name !== config.name).flatMap((m) => m.peerUrls));
    const hello = await awaitJoinHello({
      listen: config.listenPeer, logger, ...(config.peerTls !== undefined && { tls: config.peerTls }),
      check: (h) => (h.peerUrls.some((u) => known.has(u)) ? null
        : `member ${h.from.toString(16)} (${h.peerUrls.join(',')}) is not in --initial-cluster`),
    });
    const contactUrl = hello.peerUrls.find((u) => known.has(u))!;
    identity = {
      memberId: hello.to.toString(16), clusterId: hello.clusterId.toString(16),
      contact: { id: hello.from.toString(16), peerUrl: contactUrl },
    };
    logger.info('joining the cluster', { cluster: identity.clusterId, member: identity.memberId, contact: identity.contact!.id });
  } else {
    identity = { memberId: config.memberId.toString(16), clusterId: config.clusterId.toString(16) };
  }
  if (!existsSync(file)) {
    mkdirSync(paths.member, { recursive: true });
    writeFileSync(`${file}.tmp`, JSON.stringify(identity));
    const fd = openSync(`${file}.tmp`, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(`${file}.tmp`, file);
  }
  const contact = identity.contact;
  return {
    ...config, memberId: BigInt(`0x${identity.memberId}`), clusterId: BigInt(`0x${identity.clusterId}`),
    ...(contact !== undefined && { joining: { contact: BigInt(`0x${contact.id}`), contactPeerUrl: contact.peerUrl } }),
  };
}

/** Marks an incoming env as complete: from then on it replaces the old one, even after a crash. */
const INCOMING_READY = 'READY';

/** Finishes (or drops) a snapshot install a crash interrupted. */
function recoverInstall(paths: Paths, logger: Logger): void {
  if (!existsSync(paths.incoming)) return;
  if (existsSync(join(paths.incoming, INCOMING_READY))) {
    swapInIncoming(paths);
    logger.warn('finished installing a snapshot interrupted by a crash');
  } else {
    rmSync(paths.incoming, { recursive: true, force: true });
  }
}

function swapInIncoming(paths: Paths): void {
  rmSync(paths.mvcc, { recursive: true, force: true });
  renameSync(paths.incoming, paths.mvcc);
  rmSync(join(paths.mvcc, INCOMING_READY), { force: true });
}

/**
 * Makes the keyspace the leader sent (`file`, already fsynced) this member's env: its Raft log
 * becomes the snapshot, keeping the stored term and vote (raised to the snapshot's term if that
 * is newer). Runs with the member stopped. The new env is built beside the old one, marked
 * complete, and only then swapped in, so a crash at any point leaves the old env or the new one.
 */
async function installSnapshot(paths: Paths, meta: SnapMeta, file: string): Promise<void> {
  const hard = await storedHardState(paths.mvcc);
  await closeEnvAt(paths.mvcc);
  rmSync(paths.incoming, { recursive: true, force: true });
  mkdirSync(paths.incoming, { recursive: true });
  renameSync(file, join(paths.incoming, 'data.mdb'));
  const keep = hard.term >= meta.term;
  await installRaftSnapshot(paths.incoming, {
    index: meta.index, term: meta.term, confState: { voters: [...meta.voters], learners: [...meta.learners] },
  }, { term: keep ? hard.term : meta.term, vote: keep ? hard.vote : NONE, commit: meta.index });
  const ready = join(paths.incoming, INCOMING_READY);
  writeFileSync(ready, '');
  const fd = openSync(paths.incoming, 'r');
  fsyncSync(fd);
  closeSync(fd);
  swapInIncoming(paths);
}

// ---- worker-side factories (called inside the actor threads) ----

export interface RaftWorkerOptions {
  /** The member's env, which the Raft log shares with the mvcc tables. */
  readonly envPath: string;
  readonly memberId: bigint;
  readonly voters: readonly bigint[];
  /** The configuration of the applied member table (RaftActorOptions.confState). */
  readonly confState?: { readonly voters: readonly bigint[]; readonly learners: readonly bigint[] };
  readonly peers: readonly (readonly [bigint, string])[];
  /** Where messages for members not in `peers` go: the peer actor. */
  readonly otherPeersAddress?: string;
  readonly frontAddress: string;
  readonly applyAddress: string;
  readonly leaseAddress: string;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly applied: number;
  readonly snapshotCount: number;
  /** etcd_disk_wal_fsync_duration_seconds: this thread writes it, the main thread scrapes it. */
  readonly walFsyncHistogram?: SharedArrayBuffer;
  /** Stage the log's LMDB writes with apply's (LmdbRaftStorageOptions.deferLmdb). */
  readonly deferLmdb?: boolean;
}

export function createRaftActor(o: RaftWorkerOptions): AnyActor {
  const storage = LmdbRaftStorage.open({
    path: o.envPath, bootstrap: { voters: o.voters as MemberId[], learners: [] }, deferLmdb: o.deferLmdb === true,
  });
  if (o.walFsyncHistogram !== undefined) {
    timeAsyncMethod(storage, 'persist', new SharedHistogram(DISK_BUCKETS_SECONDS, o.walFsyncHistogram));
  }
  return new RaftActor({
    id: o.memberId as MemberId, storage, peers: new Map(o.peers), frontAddress: o.frontAddress,
    ...(o.otherPeersAddress !== undefined && { otherPeersAddress: o.otherPeersAddress }),
    ...(o.confState !== undefined && {
      confState: { voters: o.confState.voters as MemberId[], learners: o.confState.learners as MemberId[] },
    }),
    applyAddress: o.applyAddress, leaseAddress: o.leaseAddress, tickMs: o.tickMs,
    electionTicks: o.electionTicks,
    applied: o.applied, logKeepEntries: PIPELINE.logKeepEntries, snapshotCount: o.snapshotCount,
  });
}

export interface ApplyWorkerOptions {
  readonly mvccPath: string;
  readonly memberId: bigint;
  readonly frontAddress: string;
  readonly raftAddress: string;
  readonly maxRequestBytes: number;
  readonly maxTxnOps: number;
  readonly watchAddress: string;
  readonly leaseAddress: string;
  readonly minLeaseTtlSeconds: number;
  /** etcd_disk_backend_commit_duration_seconds, written by this thread. */
  readonly backendCommitHistogram?: SharedArrayBuffer;
  /**
   * Answer clients once a batch is applied, before its LMDB commit (LmdbBackendOptions): only
   * where every reader of the env runs on apply's thread (the `single` placement).
   */
  readonly answerBeforeCommit?: boolean;
  /** When staged writes are committed (BootConfig.backendBatch). */
  readonly backendBatch?: { readonly intervalMs: number; readonly entriesMax: number };
}

export function createApplyActor(o: ApplyWorkerOptions): AnyActor {
  const backend = LmdbBackend.open({
    path: o.mvccPath, tables: MVCC_TABLES, answerBeforeCommit: o.answerBeforeCommit === true,
    ...(o.backendBatch !== undefined && { batch: o.backendBatch }),
  });
  if (o.backendCommitHistogram !== undefined) {
    const commits = new SharedHistogram(DISK_BUCKETS_SECONDS, o.backendCommitHistogram);
    backend.observeCommits((seconds) => commits.observe(seconds));
  }
  // The replicated lease table; it never leads, so its clock is never read.
  const lessor = new Lessor({ clock: { now: () => performance.now() }, minTtlSeconds: o.minLeaseTtlSeconds });
  const store = new MvccStore(backend, {
    limits: { requestBytesMax: o.maxRequestBytes, txnOpsMax: o.maxTxnOps },
    leases: { exists: (id) => lessor.lookup(id as LeaseId) !== undefined },
  });
  return new ApplyActor({
    memberId: o.memberId, applier: new Applier(store, lessor), frontAddress: o.frontAddress,
    raftAddress: o.raftAddress, watchAddress: o.watchAddress, leaseAddress: o.leaseAddress,
    batchesInFlightMax: PIPELINE.applyBatchesInFlightMax,
  });
}

export interface WatchWorkerOptions {
  readonly mvccPath: string;
  readonly frontAddress: string;
}

/** The watch hub, reading history from its own view of the mvcc env. */
export function createWatchActor(o: WatchWorkerOptions): AnyActor {
  const store = new MvccStore(LmdbBackend.open({ path: o.mvccPath, tables: MVCC_TABLES }));
  const history: HistoryReader = {
    eventsSince: (q) => store.read((view) => view.history({
      fromRevision: q.fromRevision, toRevision: q.toRevision, eventsMax: q.eventsMax,
      bytesMax: q.bytesMax, revisionsMax: q.revisionsMax,
      wanted: (key) => rangesContain(q.ranges, key),
    })),
  };
  const hub = new WatchHub({
    history, currentRevision: store.state().current,
    progressIntervalTicks: PIPELINE.watchProgressIntervalMs / PIPELINE.watchTickMs,
  });
  return new WatchActor({
    hub, frontAddress: o.frontAddress, tickMs: PIPELINE.watchTickMs,
    responsesPerSendMax: PIPELINE.watchResponsesPerSendMax,
    deferredRequestsMax: PIPELINE.watchDeferredRequestsMax,
    // On a thread of its own the hub's key index would otherwise lag until a watcher catches up.
    onCommitted: () => { store.state(); },
  });
}

export interface LeaseWorkerOptions {
  readonly memberId: bigint;
  readonly raftAddress: string;
  readonly frontAddress: string;
  /** The peer actor, with other members (answers to their forwarded questions). */
  readonly peerAddress?: string;
  readonly minTtlSeconds: number;
  readonly extendMs: number;
  readonly revokesPerSecondMax: number;
}

/** The lease wheel: the leader-only half of the lessor, on its own thread (DESIGN.md). */
export function createLeaseActor(o: LeaseWorkerOptions): AnyActor {
  return new LeaseActor({
    memberId: o.memberId, raftAddress: o.raftAddress, frontAddress: o.frontAddress,
    ...(o.peerAddress !== undefined && { peerAddress: o.peerAddress }),
    minTtlSeconds: o.minTtlSeconds, extendMs: o.extendMs,
    lessor: { revokesPerSecondMax: o.revokesPerSecondMax },
    waitingRequestsMax: PIPELINE.leaseWaitingRequestsMax,
  });
}

// ---- the member ----

/**
 * Copies the member's keyspace (its env without the Raft log, as etcd's db file is without its
 * WAL) into a new directory beside the env; returns that directory (data.mdb inside).
 */
async function copyKeyspace(env: RootDatabase, mvccPath: string): Promise<string> {
  const dir = mkdtempSync(join(mvccPath, '..', 'snapshot-'));
  try {
    // Writes this thread staged (apply answers before its commits in the `single` placement)
    // are in the copy, as etcd commits its pending batch before a snapshot.
    await commitStaged(env);
    await env.backup(dir, false);
    const copy = openLmdb({ path: dir, maxDbs: ENV_TABLES_MAX });
    for (const name of [RAFT_LOG_TABLE, RAFT_META_TABLE]) await copy.openDB({ name }).drop();
    await copy.close();
    return dir;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function hostFacts(env: RootDatabase, mvccPath: string): HostFacts {
  const tables = MVCC_TABLES.map((name) => env.openDB({ name, keyEncoding: 'binary', encoding: 'binary' }));
  const dataFile = join(mvccPath, 'data.mdb');
  interface PageStats { pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number }
  const pagesOf = (s: PageStats): number => s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;
  return {
    dbSizeBytes: () => statSync(dataFile).size,
    // Pages the data occupies (the tables, the main tree, the free list and the two meta pages):
    // what etcd's size would be right after a defragment, since LMDB reuses freed pages in place.
    dbSizeInUseBytes: () => {
      const root = env.getStats() as PageStats & { free: PageStats };
      let pages = 2 + pagesOf(root) + pagesOf(root.free);
      for (const db of tables) pages += pagesOf(db.getStats() as PageStats);
      return pages * root.pageSize;
    },
    async *snapshot() {
      const dir = await copyKeyspace(env, mvccPath);
      try {
        // etcd appends the SHA-256 of the db to the stream so `snapshot restore` can verify it.
        const hash = createHash('sha256');
        for await (const chunk of createReadStream(join(dir, 'data.mdb'), { highWaterMark: PIPELINE.snapshotChunkBytes })) {
          const bytes = chunk as Buffer;
          hash.update(bytes);
          yield new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        }
        yield new Uint8Array(hash.digest());
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Starts a member. It runs as one instance of its actors and servers; when a follower takes a
 * snapshot from the leader, the instance stops, the snapshot becomes its env and a new instance
 * starts on the same ports (etcd swaps its backend in place; strata restarts the member in the
 * process, and clients reconnect). `done` settles when the member stops for good.
 */
export async function startMember(flags: BootConfig, logger: Logger = new ConsoleLogger({ minLevel: flags.logLevel })): Promise<Member> {
  for (const note of flags.ignoredFlags ?? []) logger.warn(note);
  const config = await withIdentity(flags, logger);
  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const done = new Promise<void>((resolve, reject) => { settle = { resolve, reject }; });
  let stopping: Promise<void> | undefined;
  let restarting = false;
  const follow = (instance: Instance): void => {
    instance.done.then(() => {
      if (!instance.retired) settle.resolve();
    }, (err: unknown) => settle.reject(err));
  };
  const hooks: InstanceHooks = {
    restartWith: (install) => {
      if (stopping !== undefined || restarting) return false;
      restarting = true;
      const old = current;
      old.retired = true;
      void (async () => {
        await old.stop();
        await install();
        if (stopping !== undefined) return settle.resolve();
        const next = await startInstance(pinned, logger, hooks);
        current = next;
        follow(next);
        logger.info('member restarted from a snapshot');
        // Stopped while the new instance was starting: stop it too.
        if (stopping !== undefined) await next.stop();
      })().catch((err: unknown) => settle.reject(err)).finally(() => { restarting = false; });
      return true;
    },
  };
  let current = await startInstance(config, logger, hooks);
  // A restart binds the ports the first start bound (0 asks for any port only once).
  const pinned: BootConfig = {
    ...config, listenClients: config.listenClients.map((l, i) => ({ ...l, port: current.clientPorts[i]! })),
    listenMetrics: (config.listenMetrics ?? []).map((l, i) => ({ ...l, port: current.metricsPorts[i]! })),
  };
  follow(current);
  const stop = (): Promise<void> => {
    stopping ??= current.stop().then(() => settle.resolve());
    return stopping;
  };
  return { clientPort: current.clientPorts[0]!, done, stop };
}

interface Instance {
  readonly clientPorts: readonly number[];
  readonly metricsPorts: readonly number[];
  /** Settles when the instance's actors stopped (rejects if one crashed). */
  readonly done: Promise<void>;
  /** Stopped to be replaced, not for good. */
  retired: boolean;
  stop(): Promise<void>;
}

/** The metrics listener's stand-in for gRPC: an HTTP/2 preface there is refused. */
const NO_GRPC: Http2Acceptor = {
  acceptConnection: (socket) => socket.destroy(),
  close: () => Promise.resolve(),
};

interface InstanceHooks {
  /** Stop this instance, run `install`, start a new one; false when the member is stopping. */
  restartWith(install: () => Promise<void>): boolean;
}

async function startInstance(config: BootConfig, logger: Logger, hooks: InstanceHooks): Promise<Instance> {
  const paths = pathsOf(config.dataDir);
  recoverInstall(paths, logger);
  mkdirSync(paths.mvcc, { recursive: true });
  if (existsSync(paths.legacyWal)) {
    const { entries } = await importRaftLog(paths.legacyWal, paths.mvcc);
    rmSync(paths.legacyWal, { recursive: true, force: true });
    logger.info('moved the Raft log into the member env', { entries });
  }
  const backend = LmdbBackend.open({ path: paths.mvcc, tables: MVCC_TABLES });
  // The main thread's own handle on the env: sizes, keyspace copies (snapshots).
  const mainEnv = acquireEnv({ path: paths.mvcc });
  const store = new MvccStore(backend, {
    limits: { requestBytesMax: config.maxRequestBytes, txnOpsMax: config.maxTxnOps },
  });
  const meta = store.state();
  const me = config.name;
  const addr = {
    front: `${me}/front`, raft: `${me}/raft`, apply: `${me}/apply`, watch: `${me}/watch`, peer: `${me}/peer`,
  };
  // The member table: --initial-cluster in a new data dir, then what membership changes made it
  // (apply keeps it in the env, so snapshots carry it).
  let table = store.read((view) => view.memberRecords());
  // A joining member has no table until the leader's snapshot brings one.
  const joining = table.length === 0 ? config.joining : undefined;
  if (table.length === 0 && joining === undefined) {
    table = config.members.map((m) => ({
      id: m.id, name: m.name, peerUrls: [...m.peerUrls], clientUrls: [], isLearner: false, removed: false,
    }));
    await store.write((w) => { for (const m of table) w.putMemberRecord(m); });
  }
  if (joining === undefined && !currentMembers(table).some((m) => m.id === config.memberId)) {
    await backend.close();
    await releaseEnv(mainEnv);
    throw new Error('the member has been permanently removed from the cluster');
  }
  let peers: PeerTransport | null = null;
  // What other members said about themselves when they connected (etcd publishes it via Raft).
  const attributes = new Map<bigint, MemberAttributes>();
  const selfAttributes: MemberAttributes = {
    // By name: a joining member's id is the cluster's, not the one its flags derive.
    name: config.name, clientUrls: config.members.find((m) => m.name === config.name)?.clientUrls ?? [],
  };
  const peerMapOf = (members: readonly StoredMember[]): Map<bigint, PeerAddress> => (joining !== undefined && members.length === 0
    ? new Map([[joining.contact, peerAddressOfUrl(joining.contactPeerUrl)]])
    : new Map(currentMembers(members).flatMap((m) => {
      const address = m.id === config.memberId ? undefined : dialableAddress(m.peerUrls);
      return address === undefined ? [] : [[m.id, address] as const];
    })));
  const leaseAddress = `${me}/lease`;
  const electionTicks = Math.max(2, Math.round(config.electionTimeoutMs / config.heartbeatIntervalMs));
  const minTtlSeconds = minLeaseTtlSeconds(electionTicks, config.heartbeatIntervalMs);
  let removedSelf = false;
  const removed = (): void => {
    if (removedSelf) return;
    removedSelf = true;
    logger.warn('the member has been permanently removed from the cluster; stopping');
    setTimeout(() => void stop(), REMOVED_STOP_DELAY_MS).unref();
  };
  const onMembersChanged = (members: readonly StoredMember[]): void => {
    peers?.setPeers(peerMapOf(members));
    if (members.length > 0 && !currentMembers(members).some((m) => m.id === config.memberId)) removed();
  };

  const front = new FrontActor({
    memberId: config.memberId, clusterId: config.clusterId, raftAddress: addr.raft,
    proposalIdBase: Date.now() * 1000,
    requestTimeoutMs: 5_000 + 2 * config.electionTimeoutMs,
    pendingProposalsMax: PIPELINE.pendingProposalsMax, pendingReadsMax: PIPELINE.pendingReadsMax,
    applied: meta.appliedIndex, revision: meta.current, alarms: storedAlarms(store),
    members: table, onMembersChanged,
    // A no-op where apply shares this thread (its writes keep the index current); with apply on a
    // worker, the front's index catches up batch by batch.
    onApplied: () => { store.state(); },
    autoCompaction: config.autoCompaction,
    watchAddress: addr.watch, watchStreamsMax: PIPELINE.watchStreamsMax,
    leaseAddress, peerAddress: addr.peer,
  });
  const disk = {
    walFsync: new SharedHistogram(DISK_BUCKETS_SECONDS),
    backendCommit: new SharedHistogram(DISK_BUCKETS_SECONDS),
  };
  // Gauges read the services at scrape time only (svc exists by the first scrape).
  const readers = metricReaders({
    front, status: () => svc.maintenance.status(), range: (r) => svc.kv.range(r),
    compacted: () => store.state().compacted,
  });
  const metrics = new MemberMetrics({
    ...readers, memberIdHex: config.memberId.toString(16), version: ETCD_VERSION,
    quotaBytes: config.quotaBackendBytes,
  }, disk);
  const bootModule = import.meta.url;
  const cores = availableParallelism();
  const placement = resolvePlacement(config.placement ?? 'auto', cores);
  const confState = confStateOf(table);
  const raftSpec: ActorSpec = {
    address: addr.raft, module: bootModule, export: 'createRaftActor',
    options: {
      envPath: paths.mvcc, memberId: config.memberId, voters: confState.voters, confState,
      // Raft reaches every other member through the peer actor, which knows their sockets.
      peers: [[config.memberId, addr.raft]], otherPeersAddress: addr.peer,
      frontAddress: addr.front, applyAddress: addr.apply,
      leaseAddress, tickMs: config.heartbeatIntervalMs,
      electionTicks: Math.max(2, Math.round(config.electionTimeoutMs / config.heartbeatIntervalMs)),
      applied: meta.appliedIndex, snapshotCount: config.snapshotCount,
      walFsyncHistogram: disk.walFsync.buffer,
      // All on this thread: nothing else reads the log's tables before they are committed.
      deferLmdb: placement === 'single',
    } satisfies RaftWorkerOptions,
  };
  const applySpec: ActorSpec = {
    address: addr.apply, module: bootModule, export: 'createApplyActor',
    options: {
      mvccPath: paths.mvcc, memberId: config.memberId, frontAddress: addr.front,
      raftAddress: addr.raft, maxRequestBytes: config.maxRequestBytes, maxTxnOps: config.maxTxnOps,
      watchAddress: addr.watch, leaseAddress, minLeaseTtlSeconds: minTtlSeconds,
      backendCommitHistogram: disk.backendCommit.buffer,
      // All on this thread: the front and the watch hub read what apply staged.
      answerBeforeCommit: placement === 'single',
      ...(config.backendBatch !== undefined && { backendBatch: config.backendBatch }),
    } satisfies ApplyWorkerOptions,
  };
  const leaseSpec: ActorSpec = {
    address: leaseAddress, module: bootModule, export: 'createLeaseActor',
    options: {
      memberId: config.memberId, raftAddress: addr.raft, frontAddress: addr.front, minTtlSeconds,
      peerAddress: addr.peer,
      extendMs: config.electionTimeoutMs,
      revokesPerSecondMax: config.leaseRevokesPerSecondMax ?? limits.leaseRevokesPerSecondMax,
    } satisfies LeaseWorkerOptions,
  };
  const watchSpec: ActorSpec = {
    address: addr.watch, module: bootModule, export: 'createWatchActor',
    options: { mvccPath: paths.mvcc, frontAddress: addr.front } satisfies WatchWorkerOptions,
  };
  let snapshotTaken = false;
  const peerActor = new PeerActor({
    memberId: config.memberId, raftAddress: addr.raft, leaseAddress, frontAddress: addr.front,
  });
  const serialScavenge = tuneGcForCores(cores);
  logger.info('actor placement', { placement, cores, serialScavenge });
  const host = await ThreadHost.start({
    placement: placementOf(placement, {
      front: { address: addr.front, create: () => front },
      raft: raftSpec, apply: applySpec, watch: watchSpec, lease: leaseSpec,
      peer: { address: addr.peer, create: () => peerActor },
    }),
    logger,
    workerLogLevel: config.logLevel === 'debug' ? 'debug' : 'warn',
  });

  const svc = services({
    front, store, host: hostFacts(mainEnv, paths.mvcc),
    members: {
      self: selfAttributes, attributes: (id) => attributes.get(id), strict: config.strictReconfigCheck ?? true,
      newId: (urls) => newMemberId(urls),
      // The leader judges as etcd's does; a follower (etcd forwards the call to the leader)
      // takes a learner that has connected to it as ready.
      learnerReady: (id) => front.learnerReady(id) ?? attributes.has(id),
    },
    limits: {
      requestBytesMax: config.maxRequestBytes, txnOpsMax: config.maxTxnOps,
      quotaBytes: config.quotaBackendBytes,
    },
    version: ETCD_VERSION,
    clock: () => performance.now(),
  });
  const receiveBytesMax = config.maxRequestBytes + 512 * 1024;
  const grpc = new GrpcServer({
    logger, receiveBytesMax, observer: metrics,
    ...(config.maxConcurrentStreams !== undefined && { streamsPerConnectionMax: config.maxConcurrentStreams }),
  });
  const c = codecFor;
  // etcd's isRPCSupportedForLearner: a learner serves Status and serializable ranges alone.
  const forVoters = <A extends unknown[], R>(h: (...args: A) => R) => (...args: A): R => {
    if (front.isLearner) throw new EtcdError('ErrNotSupportedForLearner');
    return h(...args);
  };
  const learnerRange = <Q extends { serializable: boolean }, A extends unknown[], R>(h: (req: Q, ...rest: A) => R) =>
    (req: Q, ...rest: A): R => {
      if (front.isLearner && !req.serializable) throw new EtcdError('ErrNotSupportedForLearner');
      return h(req, ...rest);
    };
  grpc.addService('etcdserverpb.KV', {
    Range: unary(c('etcdserverpb.RangeRequest'), c('etcdserverpb.RangeResponse'), learnerRange(svc.kv.rangeUnary)),
    Put: unary(c('etcdserverpb.PutRequest'), c('etcdserverpb.PutResponse'), forVoters(svc.kv.put)),
    DeleteRange: unary(c('etcdserverpb.DeleteRangeRequest'), c('etcdserverpb.DeleteRangeResponse'), forVoters(svc.kv.deleteRange)),
    Txn: unary(c('etcdserverpb.TxnRequest'), c('etcdserverpb.TxnResponse'), forVoters(svc.kv.txn)),
    Compact: unary(c('etcdserverpb.CompactionRequest'), c('etcdserverpb.CompactionResponse'), forVoters(svc.kv.compact)),
  });
  const m = svc.maintenance;
  grpc.addService('etcdserverpb.Maintenance', {
    Status: unary(c('etcdserverpb.StatusRequest'), c('etcdserverpb.StatusResponse'), m.status),
    Hash: unary(c('etcdserverpb.HashRequest'), c('etcdserverpb.HashResponse'), forVoters(m.hash)),
    HashKV: unary(c('etcdserverpb.HashKVRequest'), c('etcdserverpb.HashKVResponse'), forVoters(m.hashKV)),
    Alarm: unary(c('etcdserverpb.AlarmRequest'), c('etcdserverpb.AlarmResponse'), forVoters(m.alarm)),
    Defragment: unary(c('etcdserverpb.DefragmentRequest'), c('etcdserverpb.DefragmentResponse'), forVoters(m.defragment)),
    MoveLeader: unary(c('etcdserverpb.MoveLeaderRequest'), c('etcdserverpb.MoveLeaderResponse'), forVoters(m.moveLeader)),
    Snapshot: serverStream(c('etcdserverpb.SnapshotRequest'), c('etcdserverpb.SnapshotResponse'), forVoters(async (_req, call) => {
      for await (const chunk of m.snapshot()) {
        if (call.cancelled) return;
        if (!call.write(chunk)) await call.drained();
      }
    })),
  });
  const watch = watchService(front);
  grpc.addService('etcdserverpb.Watch', {
    Watch: bidi(c('etcdserverpb.WatchRequest'), c('etcdserverpb.WatchResponse'), forVoters((call) => watch(call))),
  });
  const lease = leaseService({
    front, store, ids: new LeaseIdGenerator(config.memberId as MemberId, Date.now()),
  });
  grpc.addService('etcdserverpb.Lease', {
    LeaseGrant: unary(c('etcdserverpb.LeaseGrantRequest'), c('etcdserverpb.LeaseGrantResponse'), forVoters(lease.grant)),
    LeaseRevoke: unary(c('etcdserverpb.LeaseRevokeRequest'), c('etcdserverpb.LeaseRevokeResponse'), forVoters(lease.revoke)),
    LeaseKeepAlive: bidi(c('etcdserverpb.LeaseKeepAliveRequest'), c('etcdserverpb.LeaseKeepAliveResponse'), forVoters(lease.keepAlive)),
    LeaseTimeToLive: unary(c('etcdserverpb.LeaseTimeToLiveRequest'), c('etcdserverpb.LeaseTimeToLiveResponse'), forVoters(lease.timeToLive)),
    LeaseLeases: unary(c('etcdserverpb.LeaseLeasesRequest'), c('etcdserverpb.LeaseLeasesResponse'), forVoters(lease.leases)),
  });
  grpc.addService('etcdserverpb.Cluster', {
    MemberList: unary(c('etcdserverpb.MemberListRequest'), c('etcdserverpb.MemberListResponse'), forVoters(svc.cluster.memberList)),
    MemberAdd: unary(c('etcdserverpb.MemberAddRequest'), c('etcdserverpb.MemberAddResponse'), forVoters(svc.cluster.memberAdd)),
    MemberRemove: unary(c('etcdserverpb.MemberRemoveRequest'), c('etcdserverpb.MemberRemoveResponse'), forVoters(svc.cluster.memberRemove)),
    MemberUpdate: unary(c('etcdserverpb.MemberUpdateRequest'), c('etcdserverpb.MemberUpdateResponse'), forVoters(svc.cluster.memberUpdate)),
    MemberPromote: unary(c('etcdserverpb.MemberPromoteRequest'), c('etcdserverpb.MemberPromoteResponse'), forVoters(svc.cluster.memberPromote)),
  });
  // One port for gRPC and the HTTP/JSON gateway (+ /health, /version, /metrics), as etcd's.
  const gateway = new HttpGateway({
    routes: gatewayRoutes(), lookup: (service, method) => grpc.lookup(service, method),
    receiveBytesMax, logger,
    ...(config.maxConcurrentStreams !== undefined && { callsInFlightMax: config.maxConcurrentStreams }),
    endpoints: {
      health: () => checkHealth({ leader: front.leader, alarms: front.alarms, range: svc.kv.range }),
      version: () => ({ etcdserver: ETCD_VERSION, etcdcluster: CLUSTER_VERSION }),
      metrics: () => metrics.text(),
    },
  });
  if (config.listenPeer !== undefined) {
    peers = await PeerTransport.start({
      selfId: config.memberId, clusterId: config.clusterId, listen: config.listenPeer,
      clientUrls: selfAttributes.clientUrls, name: config.name, peerUrls: config.advertisePeerUrls ?? [],
      onHello: (from, hello) => attributes.set(from, { name: hello.name, clientUrls: [...hello.clientUrls] }),
      peers: peerMapOf(table),
      // Joined, no table yet: whichever member leads may be the first to call.
      acceptUnknown: () => joining !== undefined && front.members.length === 0,
      // A member removed while it was away learns it from the first member it calls (etcd: 410).
      isRemoved: (id) => front.members.some((m) => m.id === id && m.removed),
      onRemoved: (by) => {
        logger.warn('a member says this member was removed from the cluster', { by: by.toString(16) });
        removed();
      },
      onFrame: (f) => peerActor.deliver(f),
      // One message holds up to maxBytesPerMessage of entries, and at least one entry whole.
      frameBytesMax: RAFT_DEFAULTS.maxBytesPerMessage + receiveBytesMax,
      messageLimits: { entriesMax: RAFT_DEFAULTS.maxEntriesPerMessage },
      logger: logger.child({ part: 'peer' }),
      ...(config.peerTls !== undefined && { tls: config.peerTls }),
      snapshots: {
        dir: paths.member,
        // The keyspace is bounded by the quota (writes stop there); room for the copy's slack.
        bytesMax: 2 * config.quotaBackendBytes,
        onSnapshot: async (from, meta) => {
          if (meta.index <= front.appliedIndex) return `not newer than what this member applied (${front.appliedIndex})`;
          if (snapshotTaken) return 'already installing a snapshot';
          // As etcd-raft's restore: a log that already holds the snapshot's last entry is kept
          // (entries after it may count towards commits) and apply catches up from it; the
          // snapshot is answered as taken, so the leader goes on replicating after it.
          if (storedLogTerm(mainEnv, meta.index) === meta.term) return null;
          snapshotTaken = true;
          logger.warn('installing a snapshot from the leader; the member restarts', { from: from.toString(16), index: meta.index });
          return null;
        },
        onTaken: (meta, file) => {
          if (!snapshotTaken || !hooks.restartWith(() => installSnapshot(paths, meta, file))) rmSync(file, { force: true });
        },
      },
    });
    const transport = peers;
    peerActor.attach({
      send: (m) => transport.send(m),
      sendLease: (f) => transport.sendLease(f),
      crossesWire,
      sendSnapshot: async (m) => {
        const md = m.snapshot?.metadata;
        if (md === undefined) return 'a MsgSnap without its snapshot';
        const dir = await copyKeyspace(mainEnv, paths.mvcc);
        try {
          return await transport.sendSnapshot(m.to, {
            index: md.index, term: md.term, voters: md.confState.voters, learners: md.confState.learners,
          }, join(dir, 'data.mdb'));
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    });
    // As etcd, serve clients only once the cluster has a leader (etcd waits for its publish
    // through Raft): a client's first request then finds a working cluster.
    let stopped = false;
    void host.done.then(() => { stopped = true; }, () => { stopped = true; });
    while (front.leader === 0n && !stopped) await new Promise((resolve) => setTimeout(resolve, LEADER_POLL_MS));
    logger.info('the cluster has a leader', { leader: front.leader.toString(16) });
  }
  const port = new ClientPort({ grpc, http: gateway.handle, logger });
  const clientPorts: number[] = [];
  // A joining member serves nobody until the leader's snapshot made it a member with a keyspace
  // (the instance then restarts, see onTaken): its ports stay closed and it says nothing of being
  // ready, as etcd's joiner publishes itself only once it caught up.
  const serving = joining === undefined;
  for (const l of serving ? config.listenClients : []) {
    assert(!l.tls || config.clientTls !== undefined, 'https client URLs come with TLS material');
    const tls = l.tls ? config.clientTls! : undefined;
    clientPorts.push(await port.listen(l.port, l.host, tls && serverTls(tls, []), tls && acceptCheck(tls)));
  }
  if (!serving) clientPorts.push(...config.listenClients.map((l) => l.port));
  const clientPort = clientPorts[0]!;
  const monitoring = new ClientPort({ grpc: NO_GRPC, http: gateway.handleMonitoring, logger });
  const metricsPorts: number[] = [];
  for (const l of serving ? config.listenMetrics ?? [] : []) {
    assert(!l.tls || config.clientTls !== undefined, 'https metrics URLs come with TLS material');
    const tls = l.tls ? config.clientTls! : undefined;
    metricsPorts.push(await monitoring.listen(l.port, l.host, tls && serverTls(tls, []), tls && acceptCheck(tls)));
  }

  if (!serving) metricsPorts.push(...(config.listenMetrics ?? []).map((l) => l.port));
  const idHex = config.memberId.toString(16);
  const clusterHex = config.clusterId.toString(16);
  if (serving) logger.info(`published {Name:${config.name} ClientURLs:[${selfAttributes.clientUrls.join(' ')}]} to cluster ${clusterHex}`, { member: idHex });
  const first = config.listenClients[0]!;
  if (serving) {
    logger.info(`enabled capabilities for version ${CLUSTER_VERSION.slice(0, 3)}`, { member: idHex });
    logger.info(`ready to serve client requests on ${first.host}:${clientPort}`, { member: idHex });
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await port.close();
      await monitoring.close();
      await peers?.close();
      await host.stop();
      await backend.close();
      await releaseEnv(mainEnv);
      // Actors on this thread (placement single) do not close their env handles when stopped.
      await closeEnvAt(paths.mvcc);
    })();
    return stopping;
  };
  const done = host.done.then(() => stopping);
  return { clientPorts, metricsPorts, done: done.then(() => undefined), retired: false, stop };
}
