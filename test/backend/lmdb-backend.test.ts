/**
 * LmdbBackend against the same Backend contract suite as MemoryBackend, each case in a fresh
 * temporary env (noSync, since durability across OS crashes is not what is tested here; the
 * group-commit path and child-transaction rollback are the same). Temp dirs are removed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LmdbBackend } from '../../src/runtime/node/lmdb-backend.js';
import { backendContract, CONTRACT_TABLES } from './contract.js';

backendContract(t, 'LmdbBackend', async () => {
  const path = mkdtempSync(join(tmpdir(), 'strata-backend-'));
  const backend = LmdbBackend.open({ path, tables: CONTRACT_TABLES, noSync: true });
  return {
    backend,
    done: async () => {
      await backend.close();
      rmSync(path, { recursive: true, force: true });
    },
  };
});
