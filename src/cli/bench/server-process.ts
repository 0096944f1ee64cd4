/**
 * Starts a local server for `strata bench compare`: a real etcd (the `etcd` binary on PATH) or a
 * strata member (`node dist/src/cli/main.js`), with etcd's flag names, on free ports of
 * 127.0.0.1 and a temp data dir; both print "ready to serve client requests" when they serve.
 * stop() kills the process and removes the data dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Longest a server may take to print its ready line. */
export const SERVER_START_MS_MAX = 30_000;
/** Bytes of server output kept for an error message. */
const LOG_TAIL_BYTES = 2000;

export interface ServerProcess {
  readonly kind: 'etcd' | 'strata';
  readonly endpoint: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('no port'));
      srv.close(() => resolve(addr.port));
    });
  });
}

/** The strata entry point of this build: dist/src/cli/main.js next to this file's folder. */
export const STRATA_MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

export async function startServer(kind: 'etcd' | 'strata', etcdBinary = 'etcd',
  strataMain = STRATA_MAIN): Promise<ServerProcess> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), `strata-bench-${kind}-`));
  const name = `bench-${kind}`;
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const flags = [
    '--name', name, '--data-dir', dataDir,
    '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `${name}=${peerUrl}`,
  ];
  const [cmd, args] = kind === 'etcd' ? [etcdBinary, flags]
    : [process.execPath, [strataMain, ...flags]];
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitReady(child, kind);
  } catch (err) {
    await stop();
    throw err;
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${kind} has no pid`);
  return { kind, endpoint: `127.0.0.1:${clientPort}`, pid, stop };
}

function waitReady(child: ChildProcess, kind: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let log = '';
    let ready = false;
    const late = (): void =>
      reject(new Error(`no ready line in ${SERVER_START_MS_MAX / 1000} s: ${tail(log)}`));
    const timer = setTimeout(late, SERVER_START_MS_MAX);
    const onData = (chunk: Buffer): void => {
      if (ready) return; // keep draining the pipe, stop keeping it
      log = (log + chunk.toString()).slice(-LOG_TAIL_BYTES * 4);
      if (log.includes('ready to serve client requests')) {
        ready = true;
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${kind} could not be run: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${kind} exited (${code ?? signal}) before it was ready: ${tail(log)}`));
    });
  });
}

/** The first line naming an error and the last lines of a server's output, on one line. */
function tail(log: string): string {
  const lines = log.slice(-LOG_TAIL_BYTES).split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length === 0) return '(no output)';
  const firstError = lines.find((l) => /error/i.test(l));
  const last = lines.slice(-3);
  const head = firstError === undefined || last.includes(firstError) ? [] : [firstError];
  return [...head, ...last].join(' | ');
}
