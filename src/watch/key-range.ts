/**
 * Watch key ranges as etcd reads them (spec §4.1.3 and §4.7.1): an empty key is "\0", an empty
 * range end selects exactly the key, a range end of "\0" selects every key >= key, and a range
 * end equal to the key's prefix end selects the keys starting with the key.
 */
import { EMPTY_BYTES, ZERO_BYTE, bytesEqual, compareBytes, copyBytes, prefixEnd } from '../base/index.js';
import type { KeyRange } from './types.js';

/** How the matching index stores a range. */
export type RangeShape =
  | { readonly kind: 'exact'; readonly key: Uint8Array }
  | { readonly kind: 'prefix'; readonly prefix: Uint8Array }
  /** [start, end); `end` null means unbounded (range end "\0"). */
  | { readonly kind: 'interval'; readonly start: Uint8Array; readonly end: Uint8Array | null };

/** Copies and normalises a requested range; the copy is owned by the hub. */
export function normalizeRange(key: Uint8Array, rangeEnd: Uint8Array | undefined): KeyRange {
  const k = key.length === 0 ? ZERO_BYTE : copyBytes(key);
  const end = rangeEnd === undefined || rangeEnd.length === 0 ? EMPTY_BYTES : copyBytes(rangeEnd);
  return { key: k, rangeEnd: end };
}

function isZeroByte(bytes: Uint8Array): boolean {
  return bytes.length === 1 && bytes[0] === 0;
}

/** etcd refuses a watch whose range end is non-empty, not "\0", and <= key. */
export function isEmptyRange(range: KeyRange): boolean {
  if (range.rangeEnd.length === 0 || isZeroByte(range.rangeEnd)) return false;
  return compareBytes(range.rangeEnd, range.key) <= 0;
}

export function shapeOf(range: KeyRange): RangeShape {
  if (range.rangeEnd.length === 0) return { kind: 'exact', key: range.key };
  if (isZeroByte(range.rangeEnd)) return { kind: 'interval', start: range.key, end: null };
  const pe = prefixEnd(range.key);
  if (!isZeroByte(pe) && bytesEqual(pe, range.rangeEnd)) {
    return { kind: 'prefix', prefix: range.key };
  }
  return { kind: 'interval', start: range.key, end: range.rangeEnd };
}

/** The plain definition, used by models and to check what a HistoryReader returned. */
export function rangeContains(range: KeyRange, key: Uint8Array): boolean {
  if (range.rangeEnd.length === 0) return bytesEqual(range.key, key);
  if (compareBytes(key, range.key) < 0) return false;
  return isZeroByte(range.rangeEnd) || compareBytes(key, range.rangeEnd) < 0;
}

export function rangesContain(ranges: readonly KeyRange[], key: Uint8Array): boolean {
  for (const r of ranges) if (rangeContains(r, key)) return true;
  return false;
}
