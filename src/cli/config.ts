/**
 * Server configuration: etcd's flag names, defaults and ETCD_* environment variables, validated
 * with zod at the boundary. A flag beats its environment variable, as in etcd. A bad flag or value
 * gets a one-line error naming it (ConfigError); nothing past this file sees unvalidated input.
 */
import { z } from 'zod';
import { opensslCiphers, stagingLimits } from '../runtime/node/index.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const url = z.string().refine((s) => {
  try {
    const u = new URL(s);
    // unix:// and unixs:// too: etcd's peer URLs may name a socket file (main.ts says where not).
    return ['http:', 'https:', 'unix:', 'unixs:'].includes(u.protocol) && u.port !== '';
  } catch {
    return false;
  }
}, 'must be a URL like http://127.0.0.1:2379');

const urlListOf = (atLeastOne: boolean) => z.string().transform((s, ctx) => {
  const parts = s.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (atLeastOne && parts.length === 0) ctx.addIssue({ code: 'custom', message: 'must list at least one URL' });
  for (const p of parts) {
    if (!url.safeParse(p).success) ctx.addIssue({ code: 'custom', message: `bad URL "${p}"` });
  }
  return parts;
});
const urlList = urlListOf(true);

/** A Go boolean flag: bare (`--auto-tls`) means true; `--auto-tls=false` is allowed. */
const boolFlag = z.enum(['true', 'false', '1', '0', 't', 'f', 'TRUE', 'FALSE', 'True', 'False'], 'must be true or false')
  .transform((v) => ['true', '1', 't', 'TRUE', 'True'].includes(v));

const intFlag = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.string().regex(/^-?\d+$/, 'must be an integer').transform(Number).pipe(z.number().int().min(min).max(max));

/** `name=url,name=url` with repeated names allowed (one member, several peer URLs). */
const initialCluster = z.string().transform((s, ctx) => {
  const members = new Map<string, string[]>();
  for (const part of s.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    const name = part.slice(0, eq);
    const peer = part.slice(eq + 1);
    if (eq <= 0 || !url.safeParse(peer).success) {
      ctx.addIssue({ code: 'custom', message: `bad member "${part}" (want name=http://host:port)` });
      continue;
    }
    members.set(name, [...(members.get(name) ?? []), peer]);
  }
  return [...members].map(([name, peerUrls]) => ({ name, peerUrls }));
});

/** Flag name -> [schema, default as etcd writes it (a string), help]. */
const FLAGS = {
  'name': [z.string().min(1), 'default', 'human-readable name for this member'],
  'data-dir': [z.string().min(1), '', 'path to the data directory (default: ${name}.strata)'],
  'listen-client-urls': [urlList, 'http://127.0.0.1:2379', 'URLs to listen on for client traffic'],
  'listen-metrics-urls': [urlListOf(false), '', 'URLs to serve /metrics and /health on besides the client URLs (https ones use the client TLS flags)'],
  'advertise-client-urls': [urlList, '', 'client URLs to advertise (default: the listen URLs)'],
  'listen-peer-urls': [urlList, 'http://127.0.0.1:2380', 'URLs to listen on for peer traffic'],
  'initial-advertise-peer-urls': [urlList, '', 'peer URLs to advertise (default: the listen peer URLs)'],
  'initial-cluster': [initialCluster, '', 'initial cluster configuration (default: ${name}=<peer URL>)'],
  'initial-cluster-state': [z.enum(['new', 'existing']), 'new', "'new' or 'existing'"],
  'initial-cluster-token': [z.string().min(1), 'etcd-cluster', 'initial cluster token'],
  'heartbeat-interval': [intFlag(1), '100', 'time (in milliseconds) of a heartbeat interval'],
  'election-timeout': [intFlag(1), '1000', 'time (in milliseconds) for an election to timeout'],
  'quota-backend-bytes': [intFlag(0), '0', 'raise alarms when backend size exceeds the given quota (0 = 2 GiB)'],
  'max-request-bytes': [intFlag(1), '1572864', 'maximum client request size in bytes the server will accept'],
  'max-txn-ops': [intFlag(1), '128', 'maximum number of operations permitted in a transaction'],
  'max-concurrent-streams': [intFlag(1, 0xffff_ffff), '4294967295', 'maximum concurrent streams that each client can open at a time'],
  'snapshot-count': [intFlag(1), '100000', 'number of committed transactions to trigger a snapshot'],
  'backend-batch-interval': [z.string().regex(/^(0|(\d+(\.\d+)?(ns|us|ms|s|m|h))+)$/, 'must be a duration like 100ms'), '0', 'the longest time before the backend commits its batch of writes (0 = 100ms)'],
  'backend-batch-limit': [intFlag(0), '0', 'the most writes before the backend commits its batch (0 = 10000)'],
  'auto-compaction-mode': [z.enum(['periodic', 'revision']), 'periodic', "'periodic' or 'revision'"],
  'auto-compaction-retention': [z.string().regex(/^(\d+|\d+(\.\d+)?(ns|us|ms|s|m|h))+$/, 'must be a number or a duration like 1h30m'), '0', 'auto compaction retention (0 = off; hours, or a duration in periodic mode)'],
  'log-level': [z.enum(['debug', 'info', 'warn', 'error', 'panic', 'fatal']), 'info', 'log level'],
  'cert-file': [z.string(), '', 'path to the client server TLS cert file'],
  'key-file': [z.string(), '', 'path to the client server TLS key file'],
  'trusted-ca-file': [z.string(), '', 'path to the client server TLS trusted CA cert file'],
  'client-cert-auth': [boolFlag, 'false', 'enable client cert authentication'],
  'auto-tls': [boolFlag, 'false', 'client TLS using generated certificates'],
  'client-crl-file': [z.string(), '', 'path to the client certificate revocation list file'],
  'cipher-suites': [z.string(), '', 'comma-separated list of supported TLS cipher suites between client/server and peers (empty: the defaults)'],
  'peer-cert-file': [z.string(), '', 'path to the peer server TLS cert file'],
  'peer-key-file': [z.string(), '', 'path to the peer server TLS key file'],
  'peer-trusted-ca-file': [z.string(), '', 'path to the peer server TLS trusted CA file'],
  'peer-client-cert-auth': [boolFlag, 'false', 'enable peer client cert authentication'],
  'peer-auto-tls': [boolFlag, 'false', 'peer TLS using generated certificates'],
  'peer-crl-file': [z.string(), '', 'path to the peer certificate revocation list file'],
  'strict-reconfig-check': [boolFlag, 'true', 'reject reconfiguration requests that would cause quorum loss'],
  'actor-placement': [z.enum(['auto', 'worker', 'threads', 'single']), 'auto', "strata: 'worker' (raft, apply, watch and lease together on one worker thread), 'threads' (each on its own worker thread), 'single' (all on the main thread) or 'auto' ('single' on up to 2 cores, else 'worker')"],
} as const;

type FlagName = keyof typeof FLAGS;

/** Flags that take no value (Go's boolean flags): present means true. */
const BOOL_FLAGS: ReadonlySet<string> = new Set(['client-cert-auth', 'auto-tls', 'peer-client-cert-auth', 'peer-auto-tls', 'strict-reconfig-check']);

/**
 * etcd flags strata accepts and ignores, with why: they tune what a single member without peer
 * traffic does not have. Boolean flags take no value (`--peer-auto-tls`), as in Go's flag package.
 */
const IGNORED_FLAGS: Readonly<Record<string, { readonly bool: boolean; readonly why: string }>> = {
  'experimental-initial-corrupt-check': { bool: true, why: 'strata checks LMDB pages itself' },
  'enable-pprof': { bool: true, why: 'Go profiling; use node --cpu-prof' },
  'logger': { bool: false, why: 'strata always logs JSON lines (zap-like) to stderr' },
  'log-outputs': { bool: false, why: 'strata always logs to stderr' },
};

/** Flags strata refuses because honouring them silently wrong would be worse than failing. */
const REFUSED_FLAGS: Readonly<Record<string, string>> = {
  'enable-v2': 'the v2 API is not supported',
};
type FlagValue<N extends FlagName> = z.output<(typeof FLAGS)[N][0]>;

/** etcd's TLS flags for one side (client or peer). */
export interface TlsFlags {
  readonly certFile: string;
  readonly keyFile: string;
  readonly trustedCaFile: string;
  readonly clientCertAuth: boolean;
  readonly autoTls: boolean;
  readonly crlFile: string;
  readonly cipherSuites: readonly string[];
}

export interface ServerConfig {
  readonly name: string;
  readonly dataDir: string;
  readonly listenClientUrls: readonly string[];
  readonly listenMetricsUrls: readonly string[];
  readonly advertiseClientUrls: readonly string[];
  readonly listenPeerUrls: readonly string[];
  readonly initialAdvertisePeerUrls: readonly string[];
  readonly initialCluster: readonly { name: string; peerUrls: readonly string[] }[];
  readonly initialClusterState: 'new' | 'existing';
  readonly initialClusterToken: string;
  readonly strictReconfigCheck: boolean;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly quotaBackendBytes: number;
  readonly maxRequestBytes: number;
  readonly maxTxnOps: number;
  readonly maxConcurrentStreams: number;
  readonly snapshotCount: number;
  /** --backend-batch-interval and --backend-batch-limit (lmdb-staging.ts). */
  readonly backendBatch: { readonly intervalMs: number; readonly entriesMax: number };
  readonly autoCompactionMode: 'periodic' | 'revision';
  /** Periodic mode: milliseconds; revision mode: revisions to keep. 0 turns it off. */
  readonly autoCompactionRetention: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error' | 'panic' | 'fatal';
  readonly actorPlacement: 'auto' | 'worker' | 'threads' | 'single';
  /** TLS of the client URLs (https ones) and of the peer URLs; files empty when not given. */
  readonly clientTls: TlsFlags;
  readonly peerTls: TlsFlags;
  /** Accepted etcd flags that do nothing here, each with why (logged as warnings at start). */
  readonly ignoredFlags: readonly string[];
}

const DURATION_UNIT_MS: Record<string, number> = {
  ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000,
};

/** etcd: a bare number is hours in periodic mode and revisions in revision mode. */
function retention(text: string, mode: 'periodic' | 'revision'): number {
  if (/^\d+$/.test(text)) return mode === 'periodic' ? Number(text) * 3_600_000 : Number(text);
  if (mode === 'revision') throw new ConfigError(`invalid --auto-compaction-retention "${text}": revision mode takes a number of revisions`);
  return durationMs(text);
}

/** A Go duration (`1h30m`, `100ms`), validated by the flag's schema, in whole milliseconds. */
function durationMs(text: string): number {
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/g)) ms += Number(m[1]) * DURATION_UNIT_MS[m[2]!]!;
  return Math.round(ms);
}

/** Reads `--flag=value`, `--flag value`, `-flag value` (Go's flag syntax). */
function readArgs(argv: readonly string[], ignored: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--?([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    if (m === null) throw new ConfigError(`unexpected argument "${arg}" (flags look like --name=value)`);
    const name = m[1]!;
    const refused = REFUSED_FLAGS[name];
    if (refused !== undefined && !(m[2] === 'false')) throw new ConfigError(`flag --${name}: ${refused}`);
    const skip = IGNORED_FLAGS[name];
    if (skip !== undefined || refused !== undefined) {
      if (skip !== undefined) ignored.push(`--${name} has no effect: ${skip.why}`);
      if (m[2] === undefined && skip !== undefined && !skip.bool) i++;
      continue;
    }
    if (!(name in FLAGS)) throw new ConfigError(`unknown flag --${name} (see --help)`);
    let value = m[2];
    if (value === undefined && BOOL_FLAGS.has(name)) value = 'true';
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined) throw new ConfigError(`flag --${name} needs a value`);
      i++;
    }
    out.set(name, value);
  }
  return out;
}

function parseFlag<N extends FlagName>(name: N, raw: string, source: string): FlagValue<N> {
  const schema = FLAGS[name][0] as unknown as z.ZodType<FlagValue<N>>;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => i.message).join('; ');
    throw new ConfigError(`invalid ${source} "${raw}": ${why}`);
  }
  return parsed.data;
}

function envName(flag: string): string {
  return `ETCD_${flag.toUpperCase().replaceAll('-', '_')}`;
}

/**
 * Builds the configuration from command-line flags and the environment. Throws ConfigError with
 * one line naming the bad flag or variable.
 */
export function parseServerConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ServerConfig {
  const ignoredFlags: string[] = [];
  const args = readArgs(argv, ignoredFlags);
  const knownEnv = new Set(Object.keys(FLAGS).map(envName));
  for (const key of Object.keys(env)) {
    // etcd warns about an ETCD_* variable it does not know and goes on; so does strata.
    if (key.startsWith('ETCD_') && !knownEnv.has(key) && !IGNORED_ENV.has(key)) {
      ignoredFlags.push(`unrecognized environment variable ${key}`);
    }
  }
  const get = <N extends FlagName>(name: N): FlagValue<N> => {
    const fromArgs = args.get(name);
    if (fromArgs !== undefined) return parseFlag(name, fromArgs, `--${name}`);
    const fromEnv = env[envName(name)];
    if (fromEnv !== undefined) return parseFlag(name, fromEnv, envName(name));
    return parseFlag(name, FLAGS[name][1], `default of --${name}`);
  };
  const name = get('name');
  const listenPeerUrls = [...get('listen-peer-urls')];
  const advertisePeer = args.has('initial-advertise-peer-urls') || env[envName('initial-advertise-peer-urls')] !== undefined
    ? [...get('initial-advertise-peer-urls')] : listenPeerUrls;
  const listenClientUrls = [...get('listen-client-urls')];
  const advertiseClient = args.has('advertise-client-urls') || env[envName('advertise-client-urls')] !== undefined
    ? [...get('advertise-client-urls')] : listenClientUrls;
  const hasCluster = args.has('initial-cluster') || env[envName('initial-cluster')] !== undefined;
  const initialCluster = hasCluster ? get('initial-cluster') : [{ name, peerUrls: advertisePeer }];
  if (!initialCluster.some((m) => m.name === name)) {
    throw new ConfigError(`invalid --initial-cluster: it has no member named "${name}" (--name)`);
  }
  const dataDirRaw = args.get('data-dir') ?? env[envName('data-dir')];
  const dataDir = dataDirRaw === undefined ? `${name}.strata` : parseFlag('data-dir', dataDirRaw, '--data-dir');
  const heartbeatIntervalMs = get('heartbeat-interval');
  const electionTimeoutMs = get('election-timeout');
  if (electionTimeoutMs < 5 * heartbeatIntervalMs) {
    throw new ConfigError(`invalid --election-timeout ${electionTimeoutMs}: must be at least 5 times --heartbeat-interval (${heartbeatIntervalMs})`);
  }
  if (electionTimeoutMs > 50_000) {
    throw new ConfigError(`invalid --election-timeout ${electionTimeoutMs}: must be at most 50000 ms`);
  }
  const mode = get('auto-compaction-mode');
  const quota = get('quota-backend-bytes');
  const cipherSuites = get('cipher-suites').split(',').map((c) => c.trim()).filter((c) => c !== '');
  try {
    opensslCiphers(cipherSuites);
  } catch (err) {
    throw new ConfigError(`invalid --cipher-suites: ${err instanceof Error ? err.message : String(err)}`);
  }
  return {
    name,
    dataDir,
    listenClientUrls,
    listenMetricsUrls: [...get('listen-metrics-urls')],
    advertiseClientUrls: advertiseClient,
    listenPeerUrls,
    initialAdvertisePeerUrls: advertisePeer,
    initialCluster,
    initialClusterState: get('initial-cluster-state'),
    initialClusterToken: get('initial-cluster-token'),
    strictReconfigCheck: get('strict-reconfig-check'),
    heartbeatIntervalMs,
    electionTimeoutMs,
    quotaBackendBytes: quota === 0 ? 2 * 1024 * 1024 * 1024 : quota,
    maxRequestBytes: get('max-request-bytes'),
    maxTxnOps: get('max-txn-ops'),
    maxConcurrentStreams: get('max-concurrent-streams'),
    snapshotCount: get('snapshot-count'),
    backendBatch: {
      // 0: etcd's defaults (defaultBatchInterval, defaultBatchLimit), which staging holds.
      intervalMs: get('backend-batch-interval') === '0' ? stagingLimits.intervalMs
        : Math.max(1, durationMs(get('backend-batch-interval'))),
      entriesMax: get('backend-batch-limit') || stagingLimits.entriesMax,
    },
    autoCompactionMode: mode,
    autoCompactionRetention: retention(get('auto-compaction-retention'), mode),
    logLevel: get('log-level'),
    actorPlacement: get('actor-placement'),
    clientTls: {
      certFile: get('cert-file'), keyFile: get('key-file'), trustedCaFile: get('trusted-ca-file'),
      clientCertAuth: get('client-cert-auth'), autoTls: get('auto-tls'), crlFile: get('client-crl-file'),
      cipherSuites,
    },
    peerTls: {
      certFile: get('peer-cert-file'), keyFile: get('peer-key-file'), trustedCaFile: get('peer-trusted-ca-file'),
      clientCertAuth: get('peer-client-cert-auth'), autoTls: get('peer-auto-tls'), crlFile: get('peer-crl-file'),
      cipherSuites,
    },
    ignoredFlags,
  };
}

/** Variables etcd's tooling sets that do not configure a server. */
const IGNORED_ENV = new Set(['ETCDCTL_API', 'ETCD_UNSUPPORTED_ARCH']);

/** The flag help text, one line a flag. */
export function flagHelp(): string {
  return Object.entries(FLAGS)
    .map(([name, [, def, help]]) => `  --${name.padEnd(30)} ${help}${def === '' ? '' : ` (default ${def})`}`)
    .join('\n');
}
