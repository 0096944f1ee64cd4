/**
 * src/base: zero-dependency primitives every other folder may use. Nothing here imports
 * anything outside this folder, not even node:* modules, and nothing reads ambient time or
 * randomness.
 */
export { AssertionError, assert, assertCount, assertNever } from './assert.js';
export { crc32c } from './crc32c.js';
export {
  EMPTY_BYTES, ZERO_BYTE, bytesEqual, compareBytes, concatBytes, copyBytes, fromUtf8, prefixEnd,
  readUint32BE, readUint64BE, toHex, utf8, writeUint32BE, writeUint64BE,
} from './bytes.js';
export type {
  Brand, ClusterId, LeaseId, LogIndex, MemberId, Revision, Term, WatchId,
} from './ids.js';
export { clusterId, idToHex, leaseId, logIndex, memberId, revision, term, watchId } from './ids.js';
export type { Clock } from './clock.js';
export { SimClock } from './clock.js';
export type { Rng } from './rng.js';
export { SeededRng } from './rng.js';
export type { LogFields, LogLevel, LogRecord, Logger } from './logger.js';
export { LOG_LEVELS, MemoryLogger, nullLogger } from './logger.js';
export type { Limits } from './limits.js';
export { limits } from './limits.js';
