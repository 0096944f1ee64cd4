/**
 * Differential test: the same etcdctl (3.4) command sequence runs against a real etcd and against
 * strata, each started by the test on free ports, and their outputs must match after ids, terms
 * and sizes are normalised. Revisions must match exactly. This covers put, get with its options,
 * del, txn (from stdin), compaction and its errors, and the empty-key and future-revision errors.
 */
import t from 'tap';
import { etcdMissing, etcdctl, startRealEtcd } from '../helpers/real-etcd.js';
import { startStrata } from '../helpers/strata-server.js';

interface Step {
  readonly args: readonly string[];
  readonly input?: string;
}

const TXN_SUCCESS = 'value("foo") = "baz"\n\nput t1 yes\nget foo\n\nput t1 no\n\n';
const TXN_FAILURE = 'mod("foo") < "2"\ncreate("a") > "0"\n\nput t2 yes\n\ndel a\nget a --prefix\n\n';

const STEPS: readonly Step[] = [
  { args: ['put', 'foo', 'bar', '-w', 'json'] },
  { args: ['put', 'foo', 'baz', '--prev-kv', '-w', 'json'] },
  { args: ['get', 'foo', '-w', 'json'] },
  { args: ['get', 'foo', '--rev=2', '-w', 'json'] },
  { args: ['get', 'foo', '--rev=0'] },
  { args: ['put', 'a', '1'] },
  { args: ['put', 'ab', '2'] },
  { args: ['put', 'b', '3'] },
  { args: ['put', 'c\u00e9', '4'] },
  { args: ['get', 'a', 'c', '-w', 'json'] },
  { args: ['get', 'a', '--prefix'] },
  { args: ['get', '', '--from-key', '-w', 'json'] },
  { args: ['get', 'a', '--from-key', '--limit=2', '-w', 'json'] },
  { args: ['get', 'a', '--from-key', '--keys-only'] },
  { args: ['get', 'a', '--from-key', '--sort-by=MODIFY', '--order=DESCEND', '-w', 'json'] },
  { args: ['get', 'a', '--from-key', '--sort-by=VALUE', '--order=ASCEND'] },
  { args: ['get', 'a', '--from-key', '--print-value-only'] },
  { args: ['get', 'zzz', '-w', 'json'] },
  { args: ['txn', '-w', 'json'], input: TXN_SUCCESS },
  { args: ['txn', '-w', 'json'], input: TXN_FAILURE },
  { args: ['del', 'b', '-w', 'json'] },
  { args: ['del', 'nothing'] },
  { args: ['del', 'a', '--prefix', '--prev-kv', '-w', 'json'] },
  { args: ['put', 'foo', 'again', '-w', 'json'] },
  { args: ['compaction', '3'] },
  { args: ['get', 'foo', '--rev=2'] },
  { args: ['compaction', '2'] },
  { args: ['get', 'foo', '--rev=3', '-w', 'json'] },
  { args: ['get', 'foo', '--rev=1000'] },
  { args: ['put', '', 'x'] },
  { args: ['get', '', '--from-key', '--rev=4', '-w', 'json'] },
  { args: ['compaction', '12', '--physical'] },
  { args: ['get', '', '--from-key', '--rev=11', '-w', 'json'] },
  { args: ['get', '', '--from-key', '--rev=12', '-w', 'json'] },
  { args: ['get', '', '--from-key', '-w', 'json'] },
];

/** Hides what legitimately differs between two clusters: ids, terms, sizes, timestamps. */
function normalise(text: string): string {
  return text
    .replace(/"(cluster_id|member_id|ID|leader)":\d+/g, '"$1":"<id>"')
    .replace(/"raft_term":\d+/g, '"raft_term":"<term>"')
    .replace(/127\.0\.0\.1:\d+/g, '<endpoint>')
    .replace(/^\{"level".*$/gm, '')
    .replace(/\d{4}-\d\d-\d\d[ T][\d:.]+Z?/g, '<time>')
    .trim();
}

t.test('etcdctl sees the same results from strata as from etcd', { skip: etcdMissing() }, async (t) => {
  const etcd = await startRealEtcd();
  t.teardown(() => etcd.stop());
  const strata = await startStrata();
  t.teardown(() => strata.stop());
  for (const step of STEPS) {
    const want = await etcdctl(etcd.endpoint, step.args, step.input);
    const got = await etcdctl(strata.endpoint, step.args, step.input);
    const label = `etcdctl ${step.args.join(' ')}`;
    t.equal(got.code, want.code, `${label}: exit code`);
    t.equal(normalise(got.stdout), normalise(want.stdout), `${label}: stdout`);
    const errorLine = (s: string): string => s.split('\n').filter((l) => l.startsWith('Error:')).join('\n');
    t.equal(errorLine(got.stderr), errorLine(want.stderr), `${label}: error`);
  }
});
