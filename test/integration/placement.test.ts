/**
 * Actor placement is configuration: with every actor on the main thread
 * (`--actor-placement=single`), one worker thread per actor (`threads`), or the default (`auto`:
 * `single` or `worker` by the cores), a member answers as it does with raft, apply, watch and
 * lease on one worker (`worker`). The same etcdctl session (writes, a txn, a prefix watch with
 * history, a lease with an attached key, compaction) runs against each and must print the same.
 */
import t from 'tap';
import { etcdMissing, etcdctl, etcdctlWatch } from '../helpers/real-etcd.js';
import { startStrata } from '../helpers/strata-server.js';
import { resolvePlacement, SINGLE_PLACEMENT_CORES_MAX } from '../../actors/boot.js';

t.test('auto is single up to SINGLE_PLACEMENT_CORES_MAX cores, worker above', async (t) => {
  t.equal(resolvePlacement('auto', 1), 'single');
  t.equal(resolvePlacement('auto', SINGLE_PLACEMENT_CORES_MAX), 'single');
  t.equal(resolvePlacement('auto', SINGLE_PLACEMENT_CORES_MAX + 1), 'worker');
  for (const name of ['single', 'worker', 'threads'] as const) t.equal(resolvePlacement(name, 1), name, `${name} stays`);
});

async function session(endpoint: string): Promise<string[]> {
  const out: string[] = [];
  const run = async (args: string[], input?: string): Promise<void> => {
    const r = await etcdctl(endpoint, args, input);
    out.push(`${args.join(' ')} -> ${r.code} ${r.stdout.replace(/"(cluster_id|member_id)":\d+/g, '"$1":0').trim()}`);
  };
  await run(['put', 'p/a', '1']);
  await run(['put', 'p/b', '2', '-w', 'json']);
  await run(['txn', '-w', 'json'], 'value("p/a") = "1"\n\nput p/c 3\n\nput p/c 4\n\n');
  out.push((await etcdctlWatch(endpoint, ['p/', '--prefix', '--rev=2'], 9)).join(' '));
  await run(['lease', 'grant', '100', '--hex']);
  await run(['get', 'p/', '--prefix', '-w', 'json']);
  await run(['compaction', '3']);
  await run(['get', 'p/a', '--rev=2']);
  return out;
}

t.test('single, threads and auto placements answer as worker does', { skip: etcdMissing() }, async (t) => {
  const reference = await startStrata({ extraArgs: ['--actor-placement=worker'] });
  t.teardown(() => reference.stop());
  const want = await session(reference.endpoint);
  t.equal(want[3]?.split(' ').length, 9, 'the prefix watch printed its history');
  for (const placement of ['single', 'threads', 'auto']) {
    const other = await startStrata({ extraArgs: [`--actor-placement=${placement}`] });
    t.teardown(() => other.stop());
    const got = await session(other.endpoint);
    for (let i = 0; i < want.length; i++) {
      // Lease ids are server-chosen from the member id and time; compare their shape only.
      const norm = (s: string | undefined): string => (s ?? '').replace(/lease [0-9a-f]{16} granted/, 'lease <id> granted');
      t.equal(norm(got[i]), norm(want[i]), `${placement}: ${want[i]?.split(' -> ')[0] ?? `step ${i}`}`);
    }
  }
});
