/**
 * Entry of a load generator thread: a thin shell that drives one Load (load.ts) through the
 * messages of run.ts. Protocol, main -> worker: go, drain (watch), stop; worker -> main: ready,
 * progress, puts-done (watch), done, failed.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { assert } from '../../base/index.js';
import { Load, type LoadShare } from './load.js';
import type { ToMain, ToWorker } from './run.js';

/** How often a worker reports its progress. */
const PROGRESS_INTERVAL_MS = 200;

const port = parentPort;
assert(port !== null, 'worker.ts runs in a worker thread');
const post = (m: ToMain): void => port.postMessage(m);
const load = new Load(workerData as LoadShare);

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'go': void go(m.durationMs, m.watch); break;
    case 'drain': void drain(m.expectedPerWatcher); break;
    case 'stop': load.stop(); break;
  }
});

async function go(durationMs: number | undefined, watch: boolean): Promise<void> {
  const timer = setInterval(() => post({ type: 'progress', ops: load.ops, errors: load.errors }),
    PROGRESS_INTERVAL_MS);
  try {
    await load.run(durationMs);
    if (watch) post({ type: 'puts-done', puts: load.puts });
    else finish();
  } catch (err) {
    post({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
  } finally {
    if (!watch) clearInterval(timer);
    else drainTimer = timer;
  }
}

let drainTimer: NodeJS.Timeout | undefined;

async function drain(expectedPerWatcher: number): Promise<void> {
  await load.drainWatch(expectedPerWatcher);
  clearInterval(drainTimer);
  finish();
}

function finish(): void {
  const result = load.result();
  load.close();
  post({ type: 'done', result });
}

load.setup().then(() => post({ type: 'ready' }), (err: unknown) => {
  load.close();
  post({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
});
