/**
 * Starts a real etcd (Debian etcd-server) for differential tests: free ports on 127.0.0.1, a temp
 * data dir, and clean-up of both. Tests that need it skip with a visible reason when the binary
 * is absent; CI installs it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function which(binary: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path !== '' ? path : undefined;
}

/** Why a test needing the etcd binaries must skip, or false when they are present. */
export function etcdMissing(): string | false {
  if (which('etcd') === undefined) return 'the etcd binary is not installed (apt-get install etcd-server)';
  if (which('etcdctl') === undefined) return 'etcdctl is not installed (apt-get install etcd-client)';
  return false;
}

/** A port that was free a moment ago (bound to 0 and released); the bench's own helper. */
import { freePort } from '../../src/cli/bench/server-process.js';

export { freePort };

export interface RealEtcd {
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly endpoint: string;
  readonly dataDir: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export interface RealEtcdOptions {
  readonly name?: string;
  readonly token?: string;
  readonly extraArgs?: readonly string[];
}

/** Starts etcd and resolves once it serves clients (its "ready to serve client requests" line). */
export async function startRealEtcd(options: RealEtcdOptions = {}): Promise<RealEtcd> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'strata-real-etcd-'));
  const name = options.name ?? 'default';
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const child = spawn('etcd', [
    `--name=${name}`, `--data-dir=${dataDir}`,
    `--listen-client-urls=${clientUrl}`, `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=${name}=${peerUrl}`,
    `--initial-cluster-token=${options.token ?? 'etcd-cluster'}`,
    ...(options.extraArgs ?? []),
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new Error(`etcd did not start in 20 s:\n${log.slice(-2000)}`)), 20_000);
      const onData = (chunk: Buffer): void => {
        log += chunk.toString();
        if (log.includes('ready to serve client requests')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`etcd exited ${code}:\n${log.slice(-2000)}`));
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { clientUrl, peerUrl, endpoint: `127.0.0.1:${clientPort}`, dataDir, process: child, stop };
}

/** Runs etcdctl (API v3) against `endpoint`; resolves with its exit code and output. */
export async function etcdctl(endpoint: string, args: readonly string[], input?: string):
  Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('etcdctl', [`--endpoints=${endpoint}`, '--command-timeout=10s', ...args], {
      env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '', stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    // etcdctl may exit without reading its input (a command that takes none): ignore EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** Runs `etcdctl watch ...` until it printed `lines` non-empty lines (or 10 s), then kills it. */
export function etcdctlWatch(endpoint: string, args: readonly string[], lines: number): Promise<string[]> {
  return new Promise((resolve) => {
    const child = spawn('etcdctl', [`--endpoints=${endpoint}`, 'watch', ...args], {
      env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    const done = (): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(out.split('\n').filter((l) => l !== ''));
    };
    const timer = setTimeout(done, 10_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.split('\n').filter((l) => l !== '').length >= lines) done();
    });
  });
}
