/**
 * The server's flags: etcd's names and defaults, ETCD_* variables with flags winning, one-line
 * errors naming the bad flag, and member/cluster ids derived exactly as a real etcd derives them
 * (checked against a running etcd when the binary is installed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, parseServerConfig } from '../../src/cli/config.js';
import { bootConfigOf, main } from '../../src/cli/main.js';
import { clusterIdOf, memberIdOf } from '../../src/runtime/node/index.js';
import { etcdMissing, etcdctl, startRealEtcd } from '../helpers/real-etcd.js';

t.test('defaults are etcd\'s, with data in ${name}.strata on 127.0.0.1:2379', async (t) => {
  const c = parseServerConfig([], {});
  t.equal(c.name, 'default');
  t.equal(c.dataDir, 'default.strata');
  t.same(c.listenClientUrls, ['http://127.0.0.1:2379']);
  t.same(c.advertiseClientUrls, ['http://127.0.0.1:2379']);
  t.same(c.initialCluster, [{ name: 'default', peerUrls: ['http://127.0.0.1:2380'] }]);
  t.equal(c.heartbeatIntervalMs, 100);
  t.equal(c.electionTimeoutMs, 1000);
  t.equal(c.maxRequestBytes, 1572864);
  t.equal(c.maxTxnOps, 128);
  t.equal(c.maxConcurrentStreams, 2 ** 32 - 1, "etcd's default: math.MaxUint32");
  t.equal(c.quotaBackendBytes, 2 * 1024 ** 3);
  t.equal(c.autoCompactionRetention, 0);
});

t.test('flags take --a=b, --a b and -a b; flags beat ETCD_* variables', async (t) => {
  const c = parseServerConfig(['--name=n1', '--data-dir', '/tmp/x', '-max-txn-ops', '7'],
    { ETCD_NAME: 'ignored', ETCD_MAX_REQUEST_BYTES: '1000', ETCDCTL_API: '3' });
  t.equal(c.name, 'n1');
  t.equal(c.dataDir, '/tmp/x');
  t.equal(c.maxTxnOps, 7);
  t.equal(c.maxRequestBytes, 1000);
});

t.test('auto compaction retention: hours or a duration in periodic mode, revisions otherwise', async (t) => {
  t.equal(parseServerConfig(['--auto-compaction-retention=1'], {}).autoCompactionRetention, 3_600_000);
  t.equal(parseServerConfig(['--auto-compaction-retention=1h30m'], {}).autoCompactionRetention, 5_400_000);
  t.equal(parseServerConfig(['--auto-compaction-mode=revision', '--auto-compaction-retention=100'], {})
    .autoCompactionRetention, 100);
});

t.test('a bad flag gets one line naming it', async (t) => {
  const bad: [string[], Record<string, string>, RegExp][] = [
    [['--nope=1'], {}, /unknown flag --nope/],
    [['--max-txn-ops=abc'], {}, /--max-txn-ops "abc": must be an integer/],
    [['--max-concurrent-streams=0'], {}, /--max-concurrent-streams/],
    [['--max-concurrent-streams=4294967296'], {}, /--max-concurrent-streams/],
    [['--listen-client-urls=localhost'], {}, /--listen-client-urls/],
    [['--initial-cluster-state=old'], {}, /--initial-cluster-state/],
    [['--name=a', '--initial-cluster=b=http://127.0.0.1:1'], {}, /no member named "a"/],
    [['--heartbeat-interval=500'], {}, /--election-timeout 1000: must be at least 5 times/],
    [[], { ETCD_MAX_TXN_OPS: '-1' }, /ETCD_MAX_TXN_OPS/],
    [['--name'], {}, /--name needs a value/],
  ];
  for (const [argv, env, re] of bad) {
    t.throws(() => parseServerConfig(argv, env), { name: 'ConfigError', message: re }, argv.join(' '));
    try {
      parseServerConfig(argv, env);
    } catch (err) {
      t.ok(err instanceof ConfigError && !err.message.includes('\n'), 'one line');
    }
  }
});

t.test('member and cluster ids match a real etcd', { skip: etcdMissing() }, async (t) => {
  const etcd = await startRealEtcd({ token: 'strata-token' });
  t.teardown(() => etcd.stop());
  const out = await etcdctl(etcd.endpoint, ['member', 'list', '-w', 'json']);
  t.equal(out.code, 0, out.stderr);
  // etcdctl prints 64-bit ids as JSON numbers; read them as text to keep every bit.
  const ids = [...out.stdout.matchAll(/"(cluster_id|ID)":(\d+)/g)].map((m) => [m[1], BigInt(m[2]!)] as const);
  const member = memberIdOf([etcd.peerUrl], 'strata-token');
  t.ok(ids.some(([k, v]) => k === 'ID' && v === member), `member id ${member.toString(16)}`);
  t.ok(ids.some(([k, v]) => k === 'cluster_id' && v === clusterIdOf([member])), 'cluster id');
});

t.test('an unknown ETCD_* variable is a warning, as in etcd', async (t) => {
  t.same(parseServerConfig([], { ETCD_BOGUS: '1' }).ignoredFlags, ['unrecognized environment variable ETCD_BOGUS']);
});

t.test('etcd flags without effect here are accepted with a note; TLS flags are read; a CRL file must be readable', async (t) => {
  const c = parseServerConfig(['--peer-auto-tls', '--experimental-initial-corrupt-check',
    '--logger', 'zap', '--client-cert-auth', '--name', 'x', '--auto-tls=false'], {});
  t.equal(c.name, 'x', 'a boolean flag does not swallow the next argument; a string one does');
  t.equal(c.ignoredFlags.length, 2);
  t.match(c.ignoredFlags[0], /--experimental-initial-corrupt-check has no effect/);
  t.same(c.peerTls, { certFile: '', keyFile: '', trustedCaFile: '', clientCertAuth: false, autoTls: true, crlFile: '', cipherSuites: [] });
  t.same(c.clientTls, { certFile: '', keyFile: '', trustedCaFile: '', clientCertAuth: true, autoTls: false, crlFile: '', cipherSuites: [] });
  t.throws(() => parseServerConfig(['--auto-tls=maybe'], {}), /--auto-tls "maybe": must be true or false/);
  t.equal(parseServerConfig(['--client-crl-file=/x'], {}).clientTls.crlFile, '/x');
  t.equal(parseServerConfig(['--peer-crl-file=/y'], {}).peerTls.crlFile, '/y');
  const suites = 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305';
  t.same(parseServerConfig([`--cipher-suites=${suites}`], {}).peerTls.cipherSuites,
    ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305'], 'one list for both sides');
  t.throws(() => parseServerConfig(['--cipher-suites=TLS_NOPE'], {}), /invalid --cipher-suites: unexpected TLS cipher suite "TLS_NOPE"/);
  t.throws(() => bootConfigOf(parseServerConfig(['--listen-client-urls=https://127.0.0.1:1', '--auto-tls', '--client-crl-file=/nonexistent/crl'], {})),
    /invalid TLS flags: client CRL file \/nonexistent\/crl: ENOENT/);
  t.throws(() => bootConfigOf(parseServerConfig(['--listen-client-urls=https://127.0.0.1:1'], {})),
    /https needs --cert-file and --key-file, or --auto-tls/);
  t.throws(() => bootConfigOf(parseServerConfig(['--listen-client-urls=https://127.0.0.1:1', '--cert-file=/nonexistent/c', '--key-file=/nonexistent/k'], {})),
    /invalid client TLS files: ENOENT/);
  t.throws(() => bootConfigOf(parseServerConfig(['--listen-client-urls=https://127.0.0.1:1', '--cert-file=/x'], {})),
    /needs both a cert file and a key file/);
  t.throws(() => bootConfigOf(parseServerConfig(['--listen-client-urls=unix://x:1'], {})), /--listen-client-urls "unix:\/\/x:1"/);
  const unixPeers = bootConfigOf(parseServerConfig(['--name=e1', '--listen-peer-urls=unix://etcd.unix:1',
    '--initial-advertise-peer-urls=unix://etcd.unix:1', '--initial-cluster=e1=unix://etcd.unix:1'], {}));
  t.same(unixPeers.listenPeer, { host: 'etcd.unix', port: 1, tls: false, path: 'etcd.unix:1' }, 'unix peer URLs, as etcd takes them');
  const auto = bootConfigOf(parseServerConfig(['--listen-client-urls=https://127.0.0.1:1,http://127.0.0.1:2', '--auto-tls'], {}));
  t.same(auto.listenClients, [{ host: '127.0.0.1', port: 1, tls: true }, { host: '127.0.0.1', port: 2, tls: false }]);
  t.equal(auto.clientTls?.auto, true, 'a certificate made at start');
  t.throws(() => parseServerConfig(['--enable-v2'], {}), /v2 API/);
  t.equal(parseServerConfig(['--enable-v2=false'], {}).name, 'default');
});

t.test('a cluster: several members boot; https peers need TLS flags; joining with `existing` needs the running members', async (t) => {
  const cluster = ['--name=m1', '--initial-cluster=m1=http://127.0.0.1:1,m2=http://127.0.0.1:2,m3=http://127.0.0.1:3',
    '--listen-peer-urls=http://127.0.0.1:1', '--initial-advertise-peer-urls=http://127.0.0.1:1'];
  const boot = bootConfigOf(parseServerConfig(cluster, {}));
  t.equal(boot.members.length, 3);
  t.same(boot.listenPeer, { host: '127.0.0.1', port: 1, tls: false }, 'it listens for its peers');
  t.equal(new Set(boot.members.map((m) => m.id)).size, 3, 'three member ids');
  t.same(bootConfigOf(parseServerConfig([], {})).listenPeer, { host: '127.0.0.1', port: 2380, tls: false },
    'a lone member listens for peers too (MemberAdd may bring some), as etcd does');
  t.throws(() => bootConfigOf(parseServerConfig([...cluster, '--listen-peer-urls=https://127.0.0.1:1'], {})),
    /invalid peer URLs: https needs --peer-cert-file and --peer-key-file, or --peer-auto-tls/);
  const tlsPeers = bootConfigOf(parseServerConfig(['--name=m1', '--initial-cluster=m1=https://127.0.0.1:1,m2=https://127.0.0.1:2',
    '--listen-peer-urls=https://127.0.0.1:1', '--peer-auto-tls'], {}));
  t.equal(tlsPeers.listenPeer?.tls, true);
  t.equal(tlsPeers.peerTls?.auto, true);
  const dir = mkdtempSync(join(tmpdir(), 'strata-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stderr = process.stderr.write;
  let said = '';
  process.stderr.write = ((chunk: string) => { said += chunk; return true; }) as typeof process.stderr.write;
  try {
    t.equal(await main([`--data-dir=${join(dir, 'fresh')}`, '--initial-cluster-state=existing']), 2, 'exit 2');
  } finally {
    process.stderr.write = stderr;
  }
  t.match(said, /--initial-cluster-state existing: --initial-cluster must name the running members to join/);
});

t.test('--backend-batch-interval and --backend-batch-limit: etcd\'s defaults, durations, errors', async (t) => {
  t.same(parseServerConfig([], {}).backendBatch, { intervalMs: 100, entriesMax: 10_000 }, '0 means etcd\'s defaults');
  t.same(parseServerConfig(['--backend-batch-interval=250ms', '--backend-batch-limit', '500'], {}).backendBatch,
    { intervalMs: 250, entriesMax: 500 });
  t.same(parseServerConfig(['--backend-batch-interval=1s'], { ETCD_BACKEND_BATCH_LIMIT: '7' }).backendBatch,
    { intervalMs: 1000, entriesMax: 7 }, 'a Go duration; the variable');
  t.same(parseServerConfig(['--backend-batch-interval=10us'], {}).backendBatch.intervalMs, 1, 'at least 1 ms');
  t.throws(() => parseServerConfig(['--backend-batch-interval=soon'], {}), /backend-batch-interval/);
  t.throws(() => parseServerConfig(['--backend-batch-limit=-1'], {}), /backend-batch-limit/);
});
