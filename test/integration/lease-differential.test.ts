/**
 * Differential test for leases: the same etcdctl (3.4) lease commands run against a real etcd and
 * against strata, each started on free ports, and their outputs and errors must match once lease
 * and member ids are normalised (both print server-chosen ids). Revisions must match exactly:
 * revoking a lease with keys is one revision, revoking one without keys is none. Remaining TTLs
 * are read a few milliseconds apart on two servers, so they may differ by one second.
 */
import t from 'tap';
import { etcdMissing, etcdctl, startRealEtcd } from '../helpers/real-etcd.js';
import { startStrata } from '../helpers/strata-server.js';

/** `<L1>` etc. stand for the id the N-th successful `grant` printed on that server. */
const STEPS: readonly (readonly string[] | number)[] = [
  ['lease', 'grant', '100'],
  ['lease', 'grant', '1'],
  ['lease', 'grant', '0', '-w', 'json'],
  ['lease', 'grant', '9000000000'],
  ['lease', 'grant', '9000000001'],
  ['lease', 'grant', '50', '-w', 'json'],
  ['put', '--lease=<L1>', 'a', '1', '-w', 'json'],
  ['put', '--lease=<L1>', 'b', '2'],
  ['put', '--lease=<L4>', 'c', '3'],
  ['put', '--lease=<L4>', 'b', '4'],
  ['put', '--lease=123456789', 'x', 'y'],
  ['put', 'a', '--ignore-lease', '5'],
  ['lease', 'timetolive', '<L1>', '--keys'],
  ['lease', 'timetolive', '<L4>', '--keys', '-w', 'json'],
  ['lease', 'timetolive', '<L5>'],
  ['lease', 'keep-alive', '--once', '<L1>'],
  ['lease', 'revoke', '<L1>'],
  ['get', '', '--from-key', '-w', 'json'],
  ['lease', 'revoke', '<L5>', '-w', 'json'],
  ['get', '', '--from-key', '-w', 'json'],
  ['lease', 'timetolive', '<L1>'],
  ['lease', 'timetolive', '<L1>', '-w', 'json'],
  ['lease', 'revoke', '<L1>'],
  ['lease', 'keep-alive', '--once', '<L1>'],
  ['del', 'c'],
  ['lease', 'timetolive', '<L4>', '--keys'],
  // Leases 2 and 3 have the minimum TTL (2 s): after this pause both servers expired them.
  3_000,
  ['lease', 'list'],
  ['get', '', '--from-key', '-w', 'json'],
];

function substitute(args: readonly string[], ids: readonly string[]): string[] {
  return args.map((a) => a.replace(/<L(\d)>/g, (_m, n: string) => ids[Number(n) - 1] ?? 'missing'));
}

/** Hides what legitimately differs between two clusters: ids, terms, endpoints, log lines. */
function normalise(text: string, ids: readonly string[]): string {
  let out = text;
  ids.forEach((hex, i) => {
    out = out.replaceAll(hex, `<L${i + 1}>`).replaceAll(BigInt(`0x${hex}`).toString(), `<L${i + 1}>`);
  });
  return out
    .replace(/"(cluster_id|member_id)":\d+/g, '"$1":"<id>"')
    .replace(/"raft_term":\d+/g, '"raft_term":"<term>"')
    .replace(/remaining\(\d+s\)/g, 'remaining(<ttl>)')
    .replace(/"ttl":(\d+),"granted-ttl":(\d+)/g, (_m, ttl: string, granted: string) =>
      (ttl === '-1' ? `"ttl":-1,"granted-ttl":${granted}` : `"ttl":<ttl>,"granted-ttl":${granted}`))
    // etcd lists a lease's keys in Go map order (random): compare them as sets.
    .replace(/"keys":\[([^\]]*)\]/g, (_m, keys: string) => `"keys":[${keys.split(',').sort().join(',')}]`)
    .replace(/attached keys\(\[([^\]]*)\]\)/g, (_m, keys: string) =>
      `attached keys([${keys.split(' ').sort().join(' ')}])`)
    .replace(/127\.0\.0\.1:\d+/g, '<endpoint>')
    .replace(/^\{"level".*$/gm, '')
    .trim();
}

function remaining(text: string): number | undefined {
  const m = /remaining\((\d+)s\)|"ttl":(\d+)/.exec(text);
  return m === null ? undefined : Number(m[1] ?? m[2]);
}

t.test('etcdctl lease commands: strata answers as etcd does', { skip: etcdMissing() }, async (t) => {
  const etcd = await startRealEtcd();
  t.teardown(() => etcd.stop());
  const strata = await startStrata();
  t.teardown(() => strata.stop());
  const ids = { etcd: [] as string[], strata: [] as string[] };
  for (const step of STEPS) {
    if (typeof step === 'number') {
      await new Promise((resolve) => setTimeout(resolve, step));
      continue;
    }
    const want = await etcdctl(etcd.endpoint, substitute(step, ids.etcd));
    const got = await etcdctl(strata.endpoint, substitute(step, ids.strata));
    if (step[1] === 'grant' && want.code === 0) {
      const hexOf = (s: string): string => {
        const text = /lease ([0-9a-f]{16}) granted/.exec(s)?.[1];
        if (text !== undefined) return text;
        const json = /"ID":(\d+)/.exec(s)?.[1];
        return json === undefined ? 'none' : BigInt(json).toString(16).padStart(16, '0');
      };
      ids.etcd.push(hexOf(want.stdout));
      ids.strata.push(hexOf(got.stdout));
    }
    const label = `etcdctl ${step.join(' ')}`;
    t.equal(got.code, want.code, `${label}: exit code`);
    t.equal(normalise(got.stdout, ids.strata), normalise(want.stdout, ids.etcd), `${label}: stdout`);
    const errorLine = (s: string): string => s.split('\n').filter((l) => l.startsWith('Error:')).join('\n');
    t.equal(normalise(errorLine(got.stderr), ids.strata), normalise(errorLine(want.stderr), ids.etcd),
      `${label}: error`);
    const [a, b] = [remaining(got.stdout), remaining(want.stdout)];
    if (a !== undefined && b !== undefined) t.ok(Math.abs(a - b) <= 1, `${label}: remaining ${a} ~ ${b}`);
  }
});
