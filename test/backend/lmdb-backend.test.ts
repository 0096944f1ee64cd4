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

backendContract(t, 'LmdbBackend answering before commit', async () => {
  const path = mkdtempSync(join(tmpdir(), 'strata-backend-'));
  const backend = LmdbBackend.open({ path, tables: CONTRACT_TABLES, noSync: true, answerBeforeCommit: true });
  return {
    backend,
    done: async () => {
      await backend.close();
      rmSync(path, { recursive: true, force: true });
    },
  };
});

t.test('writes issued back to back: readers on this thread see each at once, other handles too', async (t) => {
  const path = mkdtempSync(join(tmpdir(), 'strata-backend-'));
  const writer = LmdbBackend.open({ path, tables: CONTRACT_TABLES, noSync: true, answerBeforeCommit: true });
  const reader = LmdbBackend.open({ path, tables: CONTRACT_TABLES, noSync: true });
  const order: string[] = [];
  const staged = [];
  for (let i = 1; i <= 200; i++) {
    const s = writer.writeStaged((w) => {
      const before = w.get('a', Uint8Array.of(0));
      w.put('a', Uint8Array.of(0), Uint8Array.of(i));
      w.put('a', Uint8Array.of(1, i), Uint8Array.of(i));
      if (i % 2 === 0) w.delete('a', Uint8Array.of(1, i - 1));
      return before?.[0] ?? 0;
    });
    void s.visible.then(() => order.push(`visible ${i}`));
    void s.durable.then(() => order.push(`durable ${i}`));
    staged.push(s);
    reader.read((r) => {
      if (r.get('a', Uint8Array.of(0))?.[0] !== i) t.fail(`write ${i} not seen by the other handle`);
      const keys = [...r.range('a', { start: Uint8Array.of(1), reverse: true, limit: 2 })].map((e) => e.key[1]);
      // Odd keys live until the next write deletes them; even keys stay.
      const want = [i, i % 2 === 0 ? i - 2 : i - 1].filter((k) => k > 0);
      if (JSON.stringify(keys) !== JSON.stringify(want)) t.fail(`write ${i}: range ${JSON.stringify(keys)}`);
    });
  }
  // Microtasks only: no commit can land before this turn ends.
  for (let i = 0; i < 3; i++) await Promise.resolve();
  t.ok(order.includes('visible 200'), 'every write is answered before any commit');
  t.notOk(order.some((o) => o.startsWith('durable')), 'and none is durable yet');
  const seen = await Promise.all(staged.map((s) => s.visible));
  t.same(seen, Array.from({ length: 200 }, (_, i) => i), 'each write read the one before it');
  // Nobody asks for a commit: the staged writes are handed over by the interval.
  await Promise.all(staged.map((s) => s.durable));
  t.ok(order.indexOf('durable 1') > order.indexOf('visible 200'), 'durable after all were answered');
  reader.read((r) => {
    t.equal([...r.range('a', { start: Uint8Array.of(1) })].length, 100, 'odd keys deleted, even kept');
  });
  await writer.close();
  await reader.close();
  rmSync(path, { recursive: true, force: true });
});

t.test('answering before commit: the batch limit hands staged writes over without waiting', async (t) => {
  const path = mkdtempSync(join(tmpdir(), 'strata-backend-'));
  // An interval no test waits for: only the limit (3 writes) can hand these over.
  const writer = LmdbBackend.open({
    path, tables: CONTRACT_TABLES, noSync: true, answerBeforeCommit: true, batch: { intervalMs: 600_000, entriesMax: 3 },
  });
  const first = writer.writeStaged((w) => { w.put('a', Uint8Array.of(1), Uint8Array.of(1)); w.put('a', Uint8Array.of(2), Uint8Array.of(2)); });
  let firstDurable = false;
  void first.durable.then(() => { firstDurable = true; });
  await first.visible;
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.notOk(firstDurable, 'two writes staged: below the limit, not handed over');
  const second = writer.writeStaged((w) => { w.put('a', Uint8Array.of(3), Uint8Array.of(3)); });
  await Promise.all([first.durable, second.durable]);
  t.pass('the third write reached the limit: both batches committed');
  await writer.close();
  rmSync(path, { recursive: true, force: true });
});
