/**
 * src/runtime/node: the host I/O code. Here: the thread host of the actor runtime, the real clock
 * and logger; beside them (exported at the end) the gRPC server on its own HTTP/2 connections and the LMDB
 * storage (LmdbBackend, LmdbRaftStorage), which have their own owners and comments.
 *
 * Owns: ThreadHost (actors on worker_threads per a placement, with the semantics of
 * src/runtime: per-link FIFO, bounded mailboxes with back-pressure, loud supervision),
 * ThreadRuntime (one thread's actors, run queue and outboxes), the worker entry
 * (actor-worker.js), SystemClock and ConsoleLogger.
 *
 * Invariants: cross-thread messages are plain data sent as batched structured-clone arrays over
 * one MessageChannel per pair of threads; mailbox depths live in one SharedArrayBuffer (sender
 * increments, owner decrements); an actor throw stops the whole host and rejects `done` with an
 * ActorFailure; `stop()` returns only after every worker has exited.
 */
export { ConsoleLogger } from './console-logger.js';
export type { ConsoleLoggerOptions, LineSink } from './console-logger.js';
export { SystemClock } from './system-clock.js';
export { loadActor } from './load-actor.js';
export type { ActorSpec } from './load-actor.js';
export { ThreadHost } from './thread-host.js';
export type { MainActorSpec, Placement, ThreadHostOptions } from './thread-host.js';
export { ThreadRuntime } from './thread-runtime.js';
export type { FailureReport, Route, ThreadRuntimeConfig } from './thread-runtime.js';
export { GrpcServer, GrpcStatusError, Status, bidi, serverStream, unary } from './grpc-server.js';
export type {
  BidiCall, CallContext, GrpcServerOptions, MethodDefinition, ServerStreamCall, WireCodec,
} from './grpc-server.js';
export { LmdbBackend } from './lmdb-backend.js';
export type { LmdbBackendOptions } from './lmdb-backend.js';
export {
  LmdbRaftStorage, RAFT_LOG_TABLE, RAFT_META_TABLE, importRaftLog, installRaftSnapshot, storedHardState,
  storedLogTerm, walDirOf,
} from './lmdb-raft-storage.js';
export { RaftWal, readWal } from './raft-wal.js';
export type { WalRecord } from './raft-wal.js';
export { commitStaged, stagingLimits } from './lmdb-staging.js';
export { ENV_TABLES_MAX, acquireEnv, closeEnvAt, releaseEnv } from './lmdb-env.js';
export type { EnvOptions } from './lmdb-env.js';
export type { LmdbRaftStorageOptions } from './lmdb-raft-storage.js';
export { ClientPort, prefaceMatch } from './http-client-port.js';
export type { ClientPortOptions, Http2Acceptor } from './http-client-port.js';
export {
  HttpGateway, JsonObjectSplitter, errorBody, gatewayHttpStatus, streamErrorLine,
} from './http-gateway.js';
export type {
  GatewayJson, HttpEndpoints, HttpGatewayOptions, HttpGatewayRoute,
} from './http-gateway.js';
export type { GrpcObserver } from './grpc-server.js';
export {
  DISK_BUCKETS_SECONDS, MemberMetrics, SharedHistogram, timeAsyncMethod,
} from './metrics-member.js';
export type { MemberMetricSources } from './metrics-member.js';
export { PEER_LIMITS, PeerTransport, awaitJoinHello, peerAddressOfUrl } from './peer-transport.js';
export type { JoinOptions, PeerAddress, PeerTransportOptions } from './peer-transport.js';
export {
  PEER_PROTOCOL_VERSION, WIRE_MESSAGE_TYPES, crossesWire, decodeFrame, decodeHello, decodeMessage,
  decodeSnapFrame, encodeHello, encodeLeaseFrame, encodeMessage, encodeSnapFrame,
} from './peer-codec.js';
export type { Hello, MessageLimits, SnapFrame, SnapMeta } from './peer-codec.js';
export { SELF_CERT_VALID_DAYS, selfCert } from './self-cert.js';
export type { CertOptions, SelfCert } from './self-cert.js';
export { acceptCheck, clientTls, hasTls, loadTls, serverTls, tlsProblem } from './tls-material.js';
export { opensslCiphers } from './cipher-suites.js';
export { clusterIdOf, memberIdOf } from './member-ids.js';
export { CRL_FILE_BYTES_MAX, crlRefusal, normalSerial, readCrl, revokedSerials } from './crl.js';
export type { TlsFiles, TlsMaterial } from './tls-material.js';
