/**
 * Runs the RaftStorage contract (storage-contract.ts) against MemoryRaftStorage and against
 * LmdbRaftStorage in a temporary directory (removed afterwards); the LMDB run reopens the env to
 * prove that what a resolved write promised is on disk.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryRaftStorage } from '../../src/raft/index.js';
import { LmdbRaftStorage } from '../../src/runtime/node/lmdb-raft-storage.js';
import { CONTRACT_CONF_STATE, storageContract } from './storage-contract.js';

storageContract(t, 'MemoryRaftStorage', async () => {
  const storage = new MemoryRaftStorage(CONTRACT_CONF_STATE);
  return { storage, reopen: async () => storage, close: async () => {} };
});

const dirs: string[] = [];
t.teardown(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

storageContract(t, 'LmdbRaftStorage', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-raft-'));
  dirs.push(dir);
  let storage = LmdbRaftStorage.open({ path: dir, bootstrap: CONTRACT_CONF_STATE });
  return {
    storage,
    reopen: async () => {
      await storage.close();
      storage = LmdbRaftStorage.open({ path: dir, bootstrap: { voters: [], learners: [] } });
      return storage;
    },
    close: async () => { await storage.close(); },
  };
});
