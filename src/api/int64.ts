/**
 * How 64-bit protobuf integers cross strata's edge, in one place.
 *
 * - 64-bit identifiers (lease, member and cluster IDs: the field names in BIGINT_FIELDS) are
 *   bigint, because clients use all 63 or 64 bits of them.
 * - Every other int64/uint64 (revisions, versions, counts, limits, TTLs, raft index and term,
 *   sizes) is a number. Encoding asserts it is a safe integer. Decoding a client's value beyond
 *   2^53 rounds it to the nearest double rather than failing: such a value is already absurd for
 *   every field concerned (a revision, a TTL, a limit), and the rounded value keeps its sign and
 *   magnitude, so validation answers exactly what etcd would (future revision, TTL too large).
 *
 * On the wire protobufjs represents 64-bit values as two 32-bit halves; these helpers convert
 * between the halves and number / bigint without allocating a Long.
 */
import { assert } from '../base/index.js';

/** Field names (in any message) whose 64-bit values are identifiers, carried as bigint. */
export const BIGINT_FIELDS: ReadonlySet<string> = new Set([
  'ID', 'cluster_id', 'member_id', 'lease', 'targetID', 'memberID', 'leader',
]);

const TWO_32 = 4_294_967_296;

/** The two's-complement halves protobufjs' Writer accepts for int64/uint64 fields. */
export interface LongBitsLike {
  low: number;
  high: number;
}

/** Signed int64 halves -> number (exact up to 2^53, nearest double beyond). */
export function int64BitsToNumber(lo: number, hi: number): number {
  if ((hi & 0x80000000) === 0) return (hi >>> 0) * TWO_32 + (lo >>> 0);
  // Negative: negate the two's complement.
  const nlo = (~lo + 1) >>> 0;
  const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
  return -(nhi * TWO_32 + nlo);
}

/** Unsigned uint64 halves -> number. */
export function uint64BitsToNumber(lo: number, hi: number): number {
  return (hi >>> 0) * TWO_32 + (lo >>> 0);
}

/** int64 halves -> bigint in [-2^63, 2^63). */
export function int64BitsToBigint(lo: number, hi: number): bigint {
  return BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
}

/** uint64 halves -> bigint in [0, 2^64). */
export function uint64BitsToBigint(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** A bigint in [-2^63, 2^64) -> halves; negative values become their two's complement. */
export function bigintToBits(v: bigint): LongBitsLike {
  assert(v >= -(1n << 63n), `64-bit value below int64 range: ${v}`);
  assert(v < 1n << 64n, `64-bit value above uint64 range: ${v}`);
  const u = BigInt.asUintN(64, v);
  return { low: Number(u & 0xffffffffn) | 0, high: Number(u >> 32n) | 0 };
}

/** Asserts a number headed for an int64/uint64 field is exactly representable. */
export function assertWireInteger(n: number, field: string): void {
  assert(Number.isSafeInteger(n), `${field} must be a safe integer, got ${n}`);
}
