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
import { clusterIdOf, memberIdOf } from './identity.js';

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
export function bootConfigOf(c: ServerConfig) {
  const listen = new URL(c.listenClientUrls[0]!);
  if (listen.protocol !== 'http:') {
    throw new ConfigError(`invalid --listen-client-urls "${listen.href}": TLS (https) is not supported yet`);
  }
  const members = c.initialCluster.map((m) => {
    const id = memberIdOf(m.peerUrls, c.initialClusterToken);
    return {
      id, name: m.name, peerUrls: m.peerUrls,
      clientUrls: m.name === c.name ? c.advertiseClientUrls : [],
    };
  });
  const self = members.find((m) => m.name === c.name)!;
  const listenPeer = new URL(c.listenPeerUrls[0]!);
  // A lone member has no peer traffic: its peer URLs only make its id (peer TLS flags are noted).
  if (members.length > 1) {
    if (listenPeer.protocol !== 'http:') {
      throw new ConfigError(`invalid --listen-peer-urls "${listenPeer.href}": peer TLS (https) is not supported yet`);
    }
    for (const m of members) {
      const bad = m.peerUrls.find((u) => !u.startsWith('http://'));
      if (bad !== undefined) throw new ConfigError(`invalid --initial-cluster: peer URL "${bad}" of ${m.name}: peer TLS (https) is not supported yet`);
    }
  }
  return {
    name: c.name,
    dataDir: c.dataDir,
    memberId: self.id,
    clusterId: clusterIdOf(members.map((m) => m.id)),
    members,
    listenClient: { host: listen.hostname.replace(/^\[|\]$/g, ''), port: Number(listen.port) },
    ...(members.length > 1 && {
      listenPeer: { host: listenPeer.hostname.replace(/^\[|\]$/g, ''), port: Number(listenPeer.port) },
    }),
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
    logLevel: c.logLevel,
  };
}

async function serve(argv: readonly string[]): Promise<number> {
  let boot: ReturnType<typeof bootConfigOf>;
  try {
    const config = parseServerConfig(argv, process.env);
    // etcd reads --initial-cluster-state only for an empty data dir: `existing` then joins a
    // running cluster that added this member (MemberAdd), which strata does not support yet.
    if (config.initialClusterState === 'existing' && !existsSync(join(config.dataDir, 'member'))) {
      throw new ConfigError('invalid --initial-cluster-state existing: joining a running cluster (after MemberAdd) is not supported yet');
    }
    boot = bootConfigOf(config);
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
