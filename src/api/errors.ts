/**
 * The one catalog of errors that reach the wire (etcd's api/v3rpc/rpctypes/error.go, restated):
 * each entry is named like etcd's sentinel, carries etcd's exact message (clients match on the
 * text), the gRPC status code etcd 3.5 actually emits, and the HTTP status the JSON gateway
 * answers with (grpc-gateway's mapping, spec §7.5). test/api/errors.test.ts pins every entry to
 * shared/spec/etcd-v3-api.md §5.
 */

/** gRPC status codes (the numbers are the wire values). */
export const GrpcCode = {
  OK: 0, Canceled: 1, Unknown: 2, InvalidArgument: 3, DeadlineExceeded: 4, NotFound: 5,
  AlreadyExists: 6, PermissionDenied: 7, ResourceExhausted: 8, FailedPrecondition: 9,
  Aborted: 10, OutOfRange: 11, Unimplemented: 12, Internal: 13, Unavailable: 14, DataLoss: 15,
  Unauthenticated: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

/** grpc-gateway v1's HTTP status for a gRPC code (etcd 3.4/3.5 gateway). */
export function httpStatusOf(code: GrpcCode): number {
  switch (code) {
    case GrpcCode.OK: return 200;
    case GrpcCode.Canceled: return 408;
    case GrpcCode.Unknown: return 500;
    case GrpcCode.InvalidArgument: return 400;
    case GrpcCode.DeadlineExceeded: return 504;
    case GrpcCode.NotFound: return 404;
    case GrpcCode.AlreadyExists: return 409;
    case GrpcCode.PermissionDenied: return 403;
    case GrpcCode.ResourceExhausted: return 429;
    // The spec table says 400; a real etcd 3.4.23 answers 412 (etcd-observed.md, Leases).
    case GrpcCode.FailedPrecondition: return 412;
    case GrpcCode.Aborted: return 409;
    case GrpcCode.OutOfRange: return 400;
    case GrpcCode.Unimplemented: return 501;
    case GrpcCode.Internal: return 500;
    case GrpcCode.Unavailable: return 503;
    case GrpcCode.DataLoss: return 500;
    case GrpcCode.Unauthenticated: return 401;
  }
}

const C = GrpcCode;

/**
 * Every error etcd sends as a gRPC status, by sentinel name: [message, gRPC code]. Where etcd's
 * declared code and its emitted code differ (too many requests, not enough started members), the
 * emitted one is used, because that is what clients see. Where 3.5 and 3.6 differ, 3.5 wins.
 */
const table = {
  // KV request validation
  ErrEmptyKey: ['etcdserver: key is not provided', C.InvalidArgument],
  ErrKeyNotFound: ['etcdserver: key not found', C.InvalidArgument],
  ErrValueProvided: ['etcdserver: value is provided', C.InvalidArgument],
  ErrLeaseProvided: ['etcdserver: lease is provided', C.InvalidArgument],
  ErrTooManyOps: ['etcdserver: too many operations in txn request', C.InvalidArgument],
  ErrDuplicateKey: ['etcdserver: duplicate key given in txn request', C.InvalidArgument],
  ErrInvalidSortOption: ['etcdserver: invalid sort option', C.InvalidArgument],
  ErrInvalidClientAPIVersion: ['etcdserver: invalid client api version', C.InvalidArgument],
  // MVCC
  ErrCompacted: ['etcdserver: mvcc: required revision has been compacted', C.OutOfRange],
  ErrFutureRev: ['etcdserver: mvcc: required revision is a future revision', C.OutOfRange],
  ErrNoSpace: ['etcdserver: mvcc: database space exceeded', C.ResourceExhausted],
  // Lease
  ErrLeaseNotFound: ['etcdserver: requested lease not found', C.NotFound],
  ErrLeaseExist: ['etcdserver: lease already exists', C.FailedPrecondition],
  ErrLeaseTTLTooLarge: ['etcdserver: too large lease TTL', C.OutOfRange],
  // Watch
  ErrWatchCanceled: ['etcdserver: watch canceled', C.Canceled],
  // Cluster membership
  ErrMemberExist: ['etcdserver: member ID already exist', C.FailedPrecondition],
  ErrPeerURLExist: ['etcdserver: Peer URLs already exists', C.FailedPrecondition],
  ErrMemberNotEnoughStarted: [
    'etcdserver: re-configuration failed due to not enough started members', C.Unknown],
  ErrMemberBadURLs: ['etcdserver: given member URLs are invalid', C.InvalidArgument],
  ErrMemberNotFound: ['etcdserver: member not found', C.NotFound],
  ErrMemberNotLearner: ['etcdserver: can only promote a learner member', C.FailedPrecondition],
  ErrLearnerNotReady: [
    'etcdserver: can only promote a learner member which is in sync with leader',
    C.FailedPrecondition],
  ErrTooManyLearners: ['etcdserver: too many learner members in cluster', C.FailedPrecondition],
  ErrClusterIdMismatch: ['etcdserver: cluster ID mismatch', C.FailedPrecondition],
  // Limits
  ErrRequestTooLarge: ['etcdserver: request is too large', C.InvalidArgument],
  ErrTooManyRequests: ['etcdserver: too many requests', C.Unknown],
  // Auth
  ErrRootUserNotExist: ['etcdserver: root user does not exist', C.FailedPrecondition],
  ErrRootRoleNotExist: ['etcdserver: root user does not have root role', C.FailedPrecondition],
  ErrUserAlreadyExist: ['etcdserver: user name already exists', C.FailedPrecondition],
  ErrUserEmpty: ['etcdserver: user name is empty', C.InvalidArgument],
  ErrUserNotFound: ['etcdserver: user name not found', C.FailedPrecondition],
  ErrRoleAlreadyExist: ['etcdserver: role name already exists', C.FailedPrecondition],
  ErrRoleNotFound: ['etcdserver: role name not found', C.FailedPrecondition],
  ErrRoleEmpty: ['etcdserver: role name is empty', C.InvalidArgument],
  ErrAuthFailed: [
    'etcdserver: authentication failed, invalid user ID or password', C.InvalidArgument],
  ErrPermissionNotGiven: ['etcdserver: permission not given', C.InvalidArgument],
  ErrPermissionDenied: ['etcdserver: permission denied', C.PermissionDenied],
  ErrRoleNotGranted: ['etcdserver: role is not granted to the user', C.FailedPrecondition],
  ErrPermissionNotGranted: [
    'etcdserver: permission is not granted to the role', C.FailedPrecondition],
  ErrAuthNotEnabled: ['etcdserver: authentication is not enabled', C.FailedPrecondition],
  ErrInvalidAuthToken: ['etcdserver: invalid auth token', C.Unauthenticated],
  ErrInvalidAuthMgmt: ['etcdserver: invalid auth management', C.InvalidArgument],
  ErrAuthOldRevision: ['etcdserver: revision of auth store is old', C.InvalidArgument],
  // Leadership, consensus, lifecycle
  ErrNoLeader: ['etcdserver: no leader', C.Unavailable],
  ErrNotLeader: ['etcdserver: not leader', C.FailedPrecondition],
  ErrLeaderChanged: ['etcdserver: leader changed', C.Unavailable],
  ErrNotCapable: ['etcdserver: not capable', C.Unavailable],
  ErrStopped: ['etcdserver: server stopped', C.Unavailable],
  ErrTimeout: ['etcdserver: request timed out', C.Unavailable],
  ErrTimeoutDueToLeaderFail: [
    'etcdserver: request timed out, possibly due to previous leader failure', C.Unavailable],
  ErrTimeoutDueToConnectionLost: [
    'etcdserver: request timed out, possibly due to connection lost', C.Unavailable],
  ErrTimeoutWaitAppliedIndex: [
    'etcdserver: request timed out, waiting for the applied index took too long',
    C.Unavailable],
  ErrUnhealthy: ['etcdserver: unhealthy cluster', C.Unavailable],
  ErrCorrupt: ['etcdserver: corrupt cluster', C.DataLoss],
  ErrNotSupportedForLearner: ['etcdserver: rpc not supported for learner', C.Unavailable],
  ErrBadLeaderTransferee: ['etcdserver: bad leader transferee', C.FailedPrecondition],
  // Downgrade (3.5+)
  ErrClusterVersionUnavailable: [
    'etcdserver: cluster version not found during downgrade', C.Unavailable],
  ErrWrongDowngradeVersionFormat: [
    'etcdserver: wrong downgrade target version format', C.InvalidArgument],
  ErrInvalidDowngradeTargetVersion: [
    'etcdserver: invalid downgrade target version', C.InvalidArgument],
  ErrDowngradeInProcess: [
    'etcdserver: cluster has a downgrade job in progress', C.FailedPrecondition],
  ErrNoInflightDowngrade: ['etcdserver: no inflight downgrade job', C.FailedPrecondition],
  // Context mapping (3.5+)
  ErrCanceled: ['etcdserver: request canceled', C.Canceled],
  ErrDeadlineExceeded: ['etcdserver: context deadline exceeded', C.DeadlineExceeded],
  // Sent unmapped by etcd, so with code Unknown and the raw text (spec §5.2)
  ErrTimeoutLeaderTransfer: [
    'etcdserver: request timed out, leader transfer took too long', C.Unknown],
  ErrProposalCanceled: ['etcdserver: request cancelled', C.Unknown],
  ErrNoPasswordUser: [
    'auth: authentication failed, password was given for no password user', C.Unknown],
} as const satisfies Record<string, readonly [string, GrpcCode]>;

export type EtcdErrorCode = keyof typeof table;

export interface CatalogEntry {
  readonly code: EtcdErrorCode;
  readonly message: string;
  readonly grpcCode: GrpcCode;
  readonly httpStatus: number;
}

export const errorCatalog: Readonly<Record<EtcdErrorCode, CatalogEntry>> = Object.freeze(
  Object.fromEntries(Object.entries(table).map(([code, [message, grpcCode]]) => [
    code, Object.freeze({ code, message, grpcCode, httpStatus: httpStatusOf(grpcCode) }),
  ])) as Record<EtcdErrorCode, CatalogEntry>,
);

const byMessage = new Map<string, CatalogEntry>(
  Object.values(errorCatalog).map((e) => [e.message, e]),
);

/** The catalog entry whose exact message is `message`, if any (what clientv3 does). */
export function catalogEntryByMessage(message: string): CatalogEntry | undefined {
  return byMessage.get(message);
}

/**
 * An etcd error on its way to the wire. The gRPC server sends `grpcCode` and `message` as the
 * status; the gateway answers `httpStatus` with etcd's JSON error body.
 */
export class EtcdError extends Error {
  override readonly name = 'EtcdError';
  readonly code: EtcdErrorCode;
  readonly grpcCode: GrpcCode;
  readonly httpStatus: number;

  constructor(code: EtcdErrorCode) {
    const entry = errorCatalog[code];
    super(entry.message);
    this.code = code;
    this.grpcCode = entry.grpcCode;
    this.httpStatus = entry.httpStatus;
  }
}

export function isEtcdError(e: unknown): e is EtcdError {
  return e instanceof EtcdError;
}

/** Watch cancel reasons (WatchResponse.cancel_reason), not gRPC statuses (spec §5.3). */
export const WatchCancelReason = {
  rangeEmpty: 'mvcc: watcher range is empty',
  duplicateWatchId: 'mvcc: duplicate watch ID provided on the WatchStream',
} as const;
