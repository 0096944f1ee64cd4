/**
 * The server's flags: etcd's names and defaults, ETCD_* variables with flags winning, one-line
 * errors naming the bad flag, and member/cluster ids derived exactly as a real etcd derives them
 * (checked against a running etcd when the binary is installed).
 */
import t from 'tap';
import { ConfigError, parseServerConfig } from '../../src/cli/config.js';
import { clusterIdOf, memberIdOf } from '../../src/cli/identity.js';
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

t.test('etcd flags without effect here are accepted with a note; client TLS is refused', async (t) => {
  const c = parseServerConfig(['--peer-auto-tls', '--experimental-initial-corrupt-check',
    '--logger', 'zap', '--name', 'x'], {});
  t.equal(c.name, 'x', 'a boolean flag does not swallow the next argument; a string one does');
  t.equal(c.ignoredFlags.length, 3);
  t.match(c.ignoredFlags[0], /--peer-auto-tls has no effect/);
  t.throws(() => parseServerConfig(['--cert-file=/x'], {}), /--cert-file: client TLS is not supported yet/);
  t.throws(() => parseServerConfig(['--enable-v2'], {}), /v2 API/);
  t.equal(parseServerConfig(['--enable-v2=false'], {}).name, 'default');
});
