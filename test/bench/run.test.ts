/**
 * A short real run against a real etcd (started on free ports by the test): put with 8 clients
 * for a fixed --total, range (linearizable, then serializable) for a short --duration, and
 * lease keepalive, all through the worker threads. Each must finish with no errors, count
 * exactly the requests asked for (put), leave the keys it wrote readable by etcdctl, and charge
 * server CPU to the etcd process. Skipped with the reason when etcd is not installed.
 */
import t from 'tap';
import { etcdMissing, etcdctl, startRealEtcd } from '../helpers/real-etcd.js';
import { parseBenchArgs, runLoad, type BenchOptions } from '../../src/cli/bench/index.js';

const missing = etcdMissing();

function options(argv: readonly string[]): BenchOptions {
  const p = parseBenchArgs(argv);
  if (!p.ok) throw new Error(p.error);
  return p.value;
}

t.test('put, range and lease-keepalive against a real etcd', { skip: missing }, async (t) => {
  const etcd = await startRealEtcd();
  t.teardown(() => etcd.stop());
  const pid = String(etcd.process.pid);
  const common = ['--endpoints', etcd.endpoint, '--server-pid', pid, '--workers', '2'];

  const put = await runLoad(options(['put', ...common, '--clients', '8', '--conns', '2', '--total', '200',
    '--key-space-size', '50', '--sequential-keys', '--prefix', 'bt/', '--val-size', '16']));
  t.equal(put.errors, 0, `put errors: ${put.firstError}`);
  t.equal(put.ops, 200);
  t.ok(put.throughput > 0);
  t.ok(put.latencyMs.p50 > 0 && put.latencyMs.p50 <= put.latencyMs.p99 && put.latencyMs.p99 <= put.latencyMs.max);
  t.ok(put.serverCpuSeconds !== undefined && put.serverCpuSeconds >= 0);
  const count = await etcdctl(etcd.endpoint, ['get', 'bt/', '--prefix', '--keys-only', '-w', 'json']);
  t.equal(JSON.parse(count.stdout).count, 50, 'sequential keys covered the key space');

  for (const consistency of ['l', 's']) {
    const range = await runLoad(options(['range', ...common, '--clients', '4', '--duration', '0.5',
      '--consistency', consistency, '--key-space-size', '10']));
    t.equal(range.errors, 0, `range ${consistency} errors: ${range.firstError}`);
    t.ok(range.ops > 0, `range ${consistency} did some requests`);
  }

  const ka = await runLoad(options(['lease-keepalive', ...common, '--clients', '4', '--total', '200']));
  t.equal(ka.errors, 0, `keepalive errors: ${ka.firstError}`);
  t.equal(ka.ops, 200);
  const leases = await etcdctl(etcd.endpoint, ['lease', 'list']);
  t.match(leases.stdout, /found 4 leases/);
});

t.test('watch delivers every event to every watcher', { skip: missing }, async (t) => {
  const etcd = await startRealEtcd();
  t.teardown(() => etcd.stop());
  const r = await runLoad(options(['watch', '--endpoints', etcd.endpoint, '--workers', '2', '--clients', '2',
    '--watchers', '6', '--watch-streams', '3', '--total', '50', '--rate', '500']));
  t.equal(r.errors, 0, `watch errors: ${r.firstError}`);
  t.equal(r.puts, 50);
  t.equal(r.ops, 50 * 6, 'events = puts x watchers');
});

t.test('a dead endpoint fails the run with a message', { skip: missing }, async (t) => {
  const { freePort } = await import('../helpers/real-etcd.js');
  const port = await freePort();
  await t.rejects(runLoad(options(['put', '--endpoints', `127.0.0.1:${port}`, '--total', '5'])), /ECONNREFUSED/);
});
