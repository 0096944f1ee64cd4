/**
 * Branded ids. Revisions, log indexes and terms grow by one per write and stay numbers (safe to
 * 2^53); lease, member and cluster ids are full 64-bit values and are bigints.
 */
import { assert } from './assert.js';

declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type Revision = Brand<number, 'Revision'>;
export type LogIndex = Brand<number, 'LogIndex'>;
export type Term = Brand<number, 'Term'>;
export type WatchId = Brand<number, 'WatchId'>;
export type LeaseId = Brand<bigint, 'LeaseId'>;
export type MemberId = Brand<bigint, 'MemberId'>;
export type ClusterId = Brand<bigint, 'ClusterId'>;

const U64_MAX = (1n << 64n) - 1n;
const I64_MAX = (1n << 63n) - 1n;

function safeCount<B extends string>(n: number, what: B): Brand<number, B> {
  assert(Number.isSafeInteger(n) && n >= 0, `${what} must be a non-negative safe integer: ${n}`);
  return n as Brand<number, B>;
}

export const revision = (n: number): Revision => safeCount(n, 'Revision');
export const logIndex = (n: number): LogIndex => safeCount(n, 'LogIndex');
export const term = (n: number): Term => safeCount(n, 'Term');
export const watchId = (n: number): WatchId => {
  assert(Number.isSafeInteger(n), `WatchId must be a safe integer: ${n}`);
  return n as WatchId;
};

/** Lease ids are int64 on the wire; etcd rejects non-positive ids where it matters. */
export function leaseId(n: bigint): LeaseId {
  assert(n >= -(1n << 63n) && n <= I64_MAX, `LeaseId out of int64 range: ${n}`);
  return n as LeaseId;
}

export function memberId(n: bigint): MemberId {
  assert(n >= 0n && n <= U64_MAX, `MemberId out of uint64 range: ${n}`);
  return n as MemberId;
}

export function clusterId(n: bigint): ClusterId {
  assert(n >= 0n && n <= U64_MAX, `ClusterId out of uint64 range: ${n}`);
  return n as ClusterId;
}

/** etcd prints member and cluster ids as lower-case hex without leading zeros. */
export function idToHex(id: bigint): string {
  return id.toString(16);
}
