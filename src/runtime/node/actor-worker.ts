/**
 * The entry of every actor worker thread. The main thread (ThreadHost) drives it through
 * `parentPort` with plain-data control messages:
 *   main -> worker  { kind: 'init', init: WorkerInit, ports }   load actor modules, wire ports
 *   worker -> main  { kind: 'ready' }
 *   main -> worker  { kind: 'start' }                            start actors, deliver
 *   main -> worker  { kind: 'stop' }                             stop actors, close ports
 *   worker -> main  { kind: 'stopped' }
 *   worker -> main  { kind: 'failure', report }                  an actor threw (or failed to load)
 * Actor code is loaded here, by the worker, from each spec's module URL and export name.
 */
import { parentPort } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { assert } from '../../base/index.js';
import { describeThrown } from '../index.js';
import { ConsoleLogger } from './console-logger.js';
import { loadActor } from './load-actor.js';
import type { ActorSpec } from './load-actor.js';
import { SystemClock } from './system-clock.js';
import { ThreadRuntime } from './thread-runtime.js';
import type { FailureReport, ThreadRuntimeConfig } from './thread-runtime.js';
import type { LogLevel } from '../../base/index.js';

export interface WorkerInit {
  readonly config: ThreadRuntimeConfig;
  readonly actors: readonly ActorSpec[];
  readonly logLevel: LogLevel;
}

export type ToWorker =
  | { readonly kind: 'init'; readonly init: WorkerInit; readonly ports: Readonly<Record<number, MessagePort>> }
  | { readonly kind: 'start' }
  | { readonly kind: 'stop' };

export type FromWorker =
  | { readonly kind: 'ready' }
  | { readonly kind: 'stopped' }
  | { readonly kind: 'failure'; readonly report: FailureReport };

assert(parentPort !== null, 'actor-worker.js must run in a worker thread');
const control = parentPort;
let runtime: ThreadRuntime | undefined;

const reply = (message: FromWorker): void => control.postMessage(message);
const reportFailure = (report: FailureReport): void => reply({ kind: 'failure', report });

async function init(message: Extract<ToWorker, { kind: 'init' }>): Promise<void> {
  const { config, actors, logLevel } = message.init;
  const logger = new ConsoleLogger({ minLevel: logLevel }).child({ thread: config.thread });
  const created = [];
  for (const spec of actors) {
    try {
      created.push({ address: spec.address, actor: await loadActor(spec) });
    } catch (thrown) {
      reportFailure({ actor: spec.address, messageType: '<load>', stack: describeThrown(thrown) });
      return;
    }
  }
  runtime = new ThreadRuntime(config, new SystemClock(), logger, reportFailure);
  for (const { address, actor } of created) runtime.addActor(address, actor);
  for (const [peer, port] of Object.entries(message.ports)) runtime.connect(Number(peer), port);
  reply({ kind: 'ready' });
}

control.on('message', (message: ToWorker) => {
  switch (message.kind) {
    case 'init':
      void init(message);
      return;
    case 'start':
      assert(runtime !== undefined, 'start before init');
      runtime.start();
      return;
    case 'stop':
      runtime?.stop();
      reply({ kind: 'stopped' });
      control.close();
      return;
  }
});
