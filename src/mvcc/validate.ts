/**
 * Request validation, in etcd's order (api/v3rpc/key.go): done by the API layer before consensus
 * and again by the store before it applies anything. Returns the first error, or undefined.
 */
import { compareBytes, toHex } from '../base/index.js';
import { err } from './types.js';
import type {
  DeleteRangeRequest, MvccError, PutRequest, RangeRequest, RequestOp, TxnRequest,
} from './types.js';

export interface ValidationLimits {
  readonly requestBytesMax: number;
  readonly txnOpsMax: number;
}

export function validateRange(r: RangeRequest): MvccError | undefined {
  return r.key.length === 0 ? err('ErrEmptyKey') : undefined;
}

export function validatePut(r: PutRequest): MvccError | undefined {
  if (r.key.length === 0) return err('ErrEmptyKey');
  if (r.ignoreValue === true && r.value.length !== 0) return err('ErrValueProvided');
  if (r.ignoreLease === true && (r.lease ?? 0n) !== 0n) return err('ErrLeaseProvided');
  return undefined;
}

export function validateDeleteRange(r: DeleteRangeRequest): MvccError | undefined {
  return r.key.length === 0 ? err('ErrEmptyKey') : undefined;
}

export function validateTxn(r: TxnRequest, limits: ValidationLimits): MvccError | undefined {
  return checkTxn(r, limits.txnOpsMax) ?? checkIntervals(r.success ?? []).error
    ?? checkIntervals(r.failure ?? []).error;
}

function checkTxn(r: TxnRequest, opsMax: number): MvccError | undefined {
  const compare = r.compare ?? [];
  const success = r.success ?? [];
  const failure = r.failure ?? [];
  const opc = Math.max(compare.length, success.length, failure.length);
  if (opc > opsMax) return err('ErrTooManyOps');
  for (const c of compare) if (c.key.length === 0) return err('ErrEmptyKey');
  for (const op of [...success, ...failure]) {
    const e = checkOp(op, opsMax - opc);
    if (e !== undefined) return e;
  }
  return undefined;
}

function checkOp(op: RequestOp, opsMax: number): MvccError | undefined {
  if (op.requestRange !== undefined) return validateRange(op.requestRange);
  if (op.requestPut !== undefined) return validatePut(op.requestPut);
  if (op.requestDeleteRange !== undefined) return validateDeleteRange(op.requestDeleteRange);
  if (op.requestTxn !== undefined) return checkTxn(op.requestTxn, opsMax);
  return err('ErrKeyNotFound');
}

/** A deleted interval [key, end); end undefined means to the end of the key space. */
interface Interval {
  readonly key: Uint8Array;
  readonly end: Uint8Array | undefined;
  readonly point: boolean;
}

function intersects(dels: readonly Interval[], k: Uint8Array): boolean {
  return dels.some((d) => d.point
    ? compareBytes(d.key, k) === 0
    : compareBytes(d.key, k) <= 0 && (d.end === undefined || compareBytes(k, d.end) < 0));
}

interface Intervals {
  readonly puts: Set<string>;
  readonly dels: Interval[];
  readonly error: MvccError | undefined;
}

/**
 * etcd's checkIntervals, ported as written: a branch may not put a key twice, nor put a key that a
 * delete of the same branch (at this or any nested level) covers; puts of the success and failure
 * branches of one nested txn may coincide. A range end of "\0" deletes to the end of key space.
 */
function checkIntervals(reqs: readonly RequestOp[]): Intervals {
  const dels: Interval[] = [];
  for (const r of reqs) {
    const d = r.requestDeleteRange;
    if (d === undefined) continue;
    const end = d.rangeEnd ?? new Uint8Array(0);
    if (end.length === 0) dels.push({ key: d.key, end: undefined, point: true });
    else if (end.length === 1 && end[0] === 0) {
      dels.push({ key: d.key, end: undefined, point: false });
    }
    else dels.push({ key: d.key, end, point: false });
  }
  const puts = new Set<string>();
  const fail = { puts, dels, error: err('ErrDuplicateKey') };
  for (const r of reqs) {
    if (r.requestTxn === undefined) continue;
    const then = checkIntervals(r.requestTxn.success ?? []);
    if (then.error !== undefined) return { puts, dels, error: then.error };
    const otherwise = checkIntervals(r.requestTxn.failure ?? []);
    if (otherwise.error !== undefined) return { puts, dels, error: otherwise.error };
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, fromHex(k))) return fail;
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      if (puts.has(k) && !then.puts.has(k)) return fail;
      if (intersects(dels, fromHex(k))) return fail;
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const r of reqs) {
    if (r.requestPut === undefined) continue;
    const k = toHex(r.requestPut.key);
    if (puts.has(k) || intersects(dels, r.requestPut.key)) return fail;
    puts.add(k);
  }
  return { puts, dels, error: undefined };
}

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * An upper estimate of a request's protobuf size: every byte field plus 16 bytes of framing per
 * field group. The API layer checks the real encoded size; this keeps the store honest when a
 * request reaches it another way.
 */
export function estimateRequestBytes(op: RequestOp): number {
  if (op.requestRange !== undefined) {
    return 32 + op.requestRange.key.length + (op.requestRange.rangeEnd?.length ?? 0);
  }
  if (op.requestPut !== undefined) {
    return 32 + op.requestPut.key.length + op.requestPut.value.length;
  }
  if (op.requestDeleteRange !== undefined) {
    return 16 + op.requestDeleteRange.key.length + (op.requestDeleteRange.rangeEnd?.length ?? 0);
  }
  if (op.requestTxn !== undefined) {
    const t = op.requestTxn;
    let n = 16;
    for (const c of t.compare ?? []) {
      n += 48 + c.key.length + (c.rangeEnd?.length ?? 0) + (c.value?.length ?? 0);
    }
    for (const o of [...(t.success ?? []), ...(t.failure ?? [])]) n += estimateRequestBytes(o);
    return n;
  }
  return 8;
}

export function validateSize(op: RequestOp, limits: ValidationLimits): MvccError | undefined {
  return estimateRequestBytes(op) > limits.requestBytesMax ? err('ErrRequestTooLarge') : undefined;
}
