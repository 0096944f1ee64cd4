#!/usr/bin/env node
/**
 * The `strata` command. With no subcommand (or `serve`) it runs one member with etcd's flags;
 * `strata bench ...` drives a load benchmark against any etcd-compatible endpoint; `strata sim`
 * is the deterministic cluster simulator. Errors in flags are one line on stderr and exit 2.
 */
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, flagHelp, parseServerConfig, type ServerConfig } from './config.js';
import {
  clusterIdOf, hasTls, loadTls, memberIdOf, peerAddressOfUrl, tlsProblem, type TlsFiles, type TlsMaterial,
} from '../runtime/node/index.js';

const VERSION_TEXT = 'strata 0.1.0 (etcd API 3.4)';

function usage(): string {
  return [
    'Usage:',
    '  strata [serve] [flags]      run a member (etcd flags and ETCD_* variables)',
    '  strata bench <workload> ... load-benchmark an etcd-compatible endpoint (strata bench --help)',
    '  strata sim --seed N ...     deterministic cluster simulation with faults (strata sim --help)',
    '  strata --version',
    '',
    'Flags:',
    flagHelp(),
  ].join('\n');
}

/** The member's boot configuration, derived from validated flags. */
export function bootConfigOf(c: ServerConfig, now = new Date()) {
  const listens = c.listenClientUrls.map((raw) => {
    const u = webUrl(raw, '--listen-client-urls');
    return { host: hostOf(u), port: Number(u.port), tls: u.protocol === 'https:' };
  });
  const metrics = c.listenMetricsUrls.map((raw) => {
    const u = webUrl(raw, '--listen-metrics-urls');
    return { host: hostOf(u), port: Number(u.port), tls: u.protocol === 'https:' };
  });
  // etcd serves https metrics URLs with the client TLS material too.
  const clientTls = [...listens, ...metrics].some((l) => l.tls)
    ? tlsOf(c.clientTls, 'client', '--cert-file and --key-file, or --auto-tls',
      [...listens, ...metrics].map((l) => l.host), now)
    : undefined;
  const members = c.initialCluster.map((m) => {
    const id = memberIdOf(m.peerUrls, c.initialClusterToken);
    return {
      id, name: m.name, peerUrls: m.peerUrls,
      clientUrls: m.name === c.name ? c.advertiseClientUrls : [],
    };
  });
  const self = members.find((m) => m.name === c.name)!;
  const listenPeer = webUrl(c.listenPeerUrls[0]!, '--listen-peer-urls', true);
  // Every member listens for peers, as etcd does: a lone one may get others by MemberAdd.
  let peerTls: TlsMaterial | undefined;
  const urls = [listenPeer, ...members.flatMap((m) => m.peerUrls.map((u) => webUrl(u, `--initial-cluster (${m.name})`, true)))];
  if (urls.some(secure)) {
    peerTls = tlsOf(c.peerTls, 'peer', '--peer-cert-file and --peer-key-file, or --peer-auto-tls',
      [hostOf(listenPeer), ...self.peerUrls.map((u) => hostOf(new URL(u)))], now);
  }
  return {
    name: c.name,
    dataDir: c.dataDir,
    memberId: self.id,
    clusterId: clusterIdOf(members.map((m) => m.id)),
    members,
    listenClients: listens,
    listenMetrics: metrics,
    ...(clientTls !== undefined && { clientTls }),
    listenPeer: peerAddressOfUrl(listenPeer.href),
    advertisePeerUrls: self.peerUrls,
    strictReconfigCheck: c.strictReconfigCheck,
    initialClusterState: c.initialClusterState,
    ...(peerTls !== undefined && { peerTls }),
    heartbeatIntervalMs: c.heartbeatIntervalMs,
    electionTimeoutMs: c.electionTimeoutMs,
    quotaBackendBytes: c.quotaBackendBytes,
    maxRequestBytes: c.maxRequestBytes,
    maxTxnOps: c.maxTxnOps,
    maxConcurrentStreams: c.maxConcurrentStreams,
    snapshotCount: c.snapshotCount,
    autoCompaction: { mode: c.autoCompactionMode, retention: c.autoCompactionRetention },
    ignoredFlags: c.ignoredFlags,
    placement: c.actorPlacement,
    backendBatch: c.backendBatch,
    logLevel: c.logLevel,
  };
}

function hostOf(u: URL): string {
  return u.hostname.replace(/^\[|\]$/g, '');
}

/**
 * `raw` as an http or https URL with a port (peer URLs may also be etcd's unix:// and unixs://,
 * whose host:port names a socket file), or a ConfigError naming `flag`.
 */
function webUrl(raw: string, flag: string, unix = false): URL {
  const u = new URL(raw);
  const schemes = unix ? ['http:', 'https:', 'unix:', 'unixs:'] : ['http:', 'https:'];
  if (!schemes.includes(u.protocol)) {
    throw new ConfigError(`invalid ${flag} "${raw}": only ${schemes.map((x) => `${x}//`).join(', ')} URLs are supported`);
  }
  if (u.port === '') throw new ConfigError(`invalid ${flag} "${raw}": the URL needs a port`);
  return u;
}

/** Whether a URL is served with TLS (https, unixs). */
function secure(u: URL): boolean {
  return u.protocol === 'https:' || u.protocol === 'unixs:';
}

/** The TLS material a side's https URLs need, or a ConfigError saying which flags are missing. */
function tlsOf(files: TlsFiles, side: string, needs: string, hosts: readonly string[], now: Date): TlsMaterial {
  const problem = tlsProblem(files, side);
  if (problem !== null) throw new ConfigError(`invalid TLS flags: ${problem}`);
  if (!hasTls(files)) throw new ConfigError(`invalid ${side} URLs: https needs ${needs}`);
  try {
    return loadTls(files, hosts, now);
  } catch (err) {
    throw new ConfigError(`invalid ${side} TLS files: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function serve(argv: readonly string[]): Promise<number> {
  let boot: ReturnType<typeof bootConfigOf>;
  try {
    const config = parseServerConfig(argv, process.env);
    // etcd reads --initial-cluster-state only for an empty data dir: `existing` then joins a
    // running cluster that added this member (MemberAdd); startMember learns its ids from it.
    boot = bootConfigOf(config);
    if (config.initialClusterState === 'existing' && !existsSync(join(config.dataDir, 'member'))
      && boot.members.every((m) => m.name === config.name)) {
      throw new ConfigError('invalid --initial-cluster-state existing: --initial-cluster must name the running members to join (as etcdctl member add prints it)');
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`strata: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const { startMember } = await import('../../actors/boot.js');
  const member = await startMember(boot);
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) return;
    signalled = true;
    process.stderr.write(`strata: received ${signal}, shutting down\n`);
    void member.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await member.done;
  return 0;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--version' || first === 'version') {
    process.stdout.write(`${VERSION_TEXT}\n`);
    return 0;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  if (first === 'bench') {
    const { runBench } = await import('./bench/index.js');
    return runBench(rest, { stdout: process.stdout, stderr: process.stderr, isTTY: process.stdout.isTTY === true });
  }
  if (first === 'sim') {
    const { runSim } = await import('./sim/index.js');
    return runSim(rest, { stdout: process.stdout, stderr: process.stderr, isTTY: process.stderr.isTTY === true });
  }
  if (first === 'serve') return serve(rest);
  return serve(argv);
}

const invokedDirectly = process.argv[1] !== undefined
  && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (invokedDirectly) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, (err: unknown) => {
    process.stderr.write(`strata: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
