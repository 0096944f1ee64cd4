/**
 * src/backend: the Backend interface (synchronous read and write transactions over named tables
 * of byte keys in memcmp order, with a documented durability contract) and MemoryBackend, the
 * simulator's implementation. LmdbBackend lives in src/runtime/node because it does I/O.
 */
export type {
  Backend, BackendEntry, RangeOptions, ReadTxn, StagedWrite, WriteTxn,
} from './backend.js';
export { backendLimits } from './backend.js';
export { MemoryBackend } from './memory-backend.js';
export { WriteOverlay } from './write-overlay.js';
export type { OverlayBatch, StagedOp } from './write-overlay.js';
