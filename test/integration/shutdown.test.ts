/**
 * Graceful shutdown: on SIGTERM (and SIGINT) a member stops serving, closes its threads and
 * storage, and exits 0 promptly; started again on the same data dir it has every write.
 */
import t from 'tap';
import { etcdMissing, etcdctl } from '../helpers/real-etcd.js';
import { startStrata } from '../helpers/strata-server.js';

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal} stops the member cleanly and loses nothing`, { skip: etcdMissing() }, async (t) => {
    const s = await startStrata();
    t.teardown(() => s.stop());
    for (let i = 0; i < 20; i++) t.equal((await etcdctl(s.endpoint, ['put', `k${i}`, `v${i}`])).code, 0);
    const proc = s.process();
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.kill(signal);
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 10_000))]);
    t.equal(code, 0, 'exits 0 within 10 s');
    t.match(s.log(), new RegExp(`received ${signal}, shutting down`));
    await s.restart();
    const got = await etcdctl(s.endpoint, ['get', 'k', '--prefix', '--print-value-only']);
    t.equal(got.stdout.trim().split('\n').length, 20, 'every write is there after the restart');
  });
}
