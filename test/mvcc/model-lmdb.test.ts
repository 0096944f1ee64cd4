/**
 * The same model-based property as model-memory.test.ts, on LmdbBackend (a fresh noSync temp env
 * per run, removed afterwards), with the long-key index path on, so the group-commit write path,
 * child-transaction rollback and the lmdb-js range bounds are all exercised against the model.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { MVCC_TABLES } from '../../src/mvcc/index.js';
import { LmdbBackend } from '../../src/runtime/node/lmdb-backend.js';
import { runModel } from './model-run.js';

const makeBackend = async () => {
  const path = mkdtempSync(join(tmpdir(), 'strata-mvcc-model-'));
  const backend = LmdbBackend.open({ path, tables: MVCC_TABLES, noSync: true });
  return {
    backend,
    done: async () => {
      await backend.close();
      rmSync(path, { recursive: true, force: true });
    },
  };
};

t.test('LmdbBackend: store matches the model (long-key index path)', async (t) => {
  await runModel({
    runs: 40, seed: 3, indexKeyBytesMax: 2, compactionSliceRevisions: 2,
    makeBackend,
  });
  t.pass('no disagreement in 40 runs');
});
