/**
 * Starts a strata member as a real process (the built CLI, `node dist/src/cli/main.js`) on free
 * ports with a temp data dir, for integration tests through real clients. Resolves once the
 * member prints etcd's readiness line; `kill9` and `restart` serve the crash tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './real-etcd.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const strataMain = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

export interface StrataServer {
  readonly endpoint: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  process(): ChildProcess;
  /** Everything the member printed so far (stdout and stderr). */
  log(): string;
  /** SIGKILL, no clean-up: the crash tests' kill -9. */
  kill9(): Promise<void>;
  /** Starts the member again on the same ports and data dir. */
  restart(): Promise<void>;
  /** Stops the member (SIGTERM, then SIGKILL after 5 s) and removes its data dir. */
  stop(): Promise<void>;
}

export interface StrataOptions {
  readonly extraArgs?: readonly string[];
  readonly name?: string;
  readonly token?: string;
  /** Ports chosen by the caller (a cluster needs every peer URL before any member starts). */
  readonly clientPort?: number;
  readonly peerPort?: number;
  /** etcd's --initial-cluster; this member alone by default. */
  readonly initialCluster?: string;
  /** `https` serves clients (or peers) with TLS; the TLS flags go in extraArgs. */
  readonly clientScheme?: 'http' | 'https';
  readonly peerScheme?: 'http' | 'https';
  /** More --listen-client-urls after the member's own. */
  readonly extraClientUrls?: readonly string[];
}

export async function startStrata(options: StrataOptions = {}): Promise<StrataServer> {
  const clientPort = options.clientPort ?? await freePort();
  const peerPort = options.peerPort ?? await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'strata-test-'));
  const name = options.name ?? 'default';
  const clientUrl = `${options.clientScheme ?? 'http'}://127.0.0.1:${clientPort}`;
  const peerUrl = `${options.peerScheme ?? 'http'}://127.0.0.1:${peerPort}`;
  const args = [
    strataMain, `--name=${name}`, `--data-dir=${dataDir}`,
    `--listen-client-urls=${[clientUrl, ...(options.extraClientUrls ?? [])].join(',')}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=${options.initialCluster ?? `${name}=${peerUrl}`}`,
    `--initial-cluster-token=${options.token ?? 'etcd-cluster'}`,
    ...(options.extraArgs ?? []),
  ];
  let child: ChildProcess | undefined;
  let output = '';

  const launch = async (): Promise<void> => {
    output = '';
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    await new Promise<void>((resolveReady, reject) => {
      const timer = setTimeout(() => reject(new Error(`strata did not start in 30 s:\n${output.slice(-3000)}`)), 30_000);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes('ready to serve client requests')) {
          clearTimeout(timer);
          resolveReady();
        }
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`strata exited (${code ?? signal}) before it was ready:\n${output.slice(-3000)}`));
      });
    });
  };

  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    if (signal !== 'SIGKILL') {
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    } else {
      await exited;
    }
  };

  try {
    await launch();
  } catch (err) {
    await kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    endpoint: `127.0.0.1:${clientPort}`,
    clientUrl,
    peerUrl,
    dataDir,
    process: () => child!,
    log: () => output,
    kill9: () => kill('SIGKILL'),
    restart: launch,
    stop: async () => {
      await kill('SIGTERM');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A cluster of `size` members as real processes (names m1..mN), started together: each member
 * serves clients only once the cluster has a leader, so all must be up before any is ready.
 */
export async function startStrataCluster(size: number, options: Pick<StrataOptions, 'extraArgs' | 'token' | 'peerScheme'> = {}): Promise<StrataServer[]> {
  const ports: { client: number; peer: number }[] = [];
  const taken = new Set<number>();
  const port = async (): Promise<number> => {
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) {
        taken.add(p);
        return p;
      }
    }
  };
  for (let i = 0; i < size; i++) ports.push({ client: await port(), peer: await port() });
  const initialCluster = ports.map((p, i) => `m${i + 1}=${options.peerScheme ?? 'http'}://127.0.0.1:${p.peer}`).join(',');
  const started = await Promise.allSettled(ports.map((p, i) => startStrata({
    ...options, name: `m${i + 1}`, clientPort: p.client, peerPort: p.peer, initialCluster,
  })));
  const members = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(members.map((m) => m.stop()));
    throw failed.reason;
  }
  return members;
}
