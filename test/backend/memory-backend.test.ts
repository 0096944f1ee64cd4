/**
 * MemoryBackend against the Backend contract suite (test/backend/contract.ts).
 */
import t from 'tap';
import { MemoryBackend } from '../../src/backend/index.js';
import { backendContract, CONTRACT_TABLES } from './contract.js';

backendContract(t, 'MemoryBackend', async () => {
  const backend = new MemoryBackend(CONTRACT_TABLES);
  return { backend, done: () => backend.close() };
});
