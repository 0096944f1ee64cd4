/**
 * Model-based property test of MvccStore on MemoryBackend: random batches of writes, compactions
 * and ranges must match the reference model (test/mvcc/model.ts) answer for answer. One run uses
 * the default index key limit; one uses a 2-byte limit, so most keys take the long-key path
 * (prefix + hash in the index) and ranges must still come out in true key order, and compaction
 * removes one revision per slice, so every key's history is compacted across several slices.
 */
import t from 'tap';
import { MemoryBackend } from '../../src/backend/index.js';
import { MVCC_TABLES } from '../../src/mvcc/index.js';
import { runModel } from './model-run.js';

const makeBackend = async () => {
  const backend = new MemoryBackend(MVCC_TABLES);
  return { backend, done: () => backend.close() };
};

t.test('MemoryBackend: store matches the model (short keys)', async (t) => {
  await runModel({
    runs: 150, seed: 1, indexKeyBytesMax: 1900, compactionSliceRevisions: 10_000,
    makeBackend,
  });
  t.pass('no disagreement in 150 runs');
});

t.test('MemoryBackend: store matches the model (long-key index path)', async (t) => {
  await runModel({
    runs: 150, seed: 2, indexKeyBytesMax: 2, compactionSliceRevisions: 1,
    makeBackend,
  });
  t.pass('no disagreement in 150 runs');
});
