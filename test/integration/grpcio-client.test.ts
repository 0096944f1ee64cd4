/**
 * Python's grpcio (gRPC C-core, another HTTP/2 implementation than grpc-go, grpc-js and nghttp2)
 * against a strata member: unary Put and Range, etcd's error for an empty key, Unimplemented for an
 * unknown method, a bidi Watch that sees a put, 500 concurrent calls on one channel and 1 MiB
 * messages both ways. Needs /usr/bin/python3 with grpc (Debian python3-grpcio); skips, saying so,
 * without it.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startStrata } from '../helpers/strata-server.js';

const PYTHON = '/usr/bin/python3';
const script = fileURLToPath(new URL('../../../test/integration/fixtures/grpcio_client.py', import.meta.url));
const probe = spawnSync(PYTHON, ['-c', 'import grpc'], { encoding: 'utf8' });
const skip = probe.status === 0 ? false : 'Python grpcio is not installed (apt-get install python3-grpcio)';

t.test('a Python grpcio client works unchanged', { skip }, async (t) => {
  const s = await startStrata({ name: 'py' });
  t.teardown(() => s.stop());
  const run = spawnSync(PYTHON, [script, s.endpoint], { encoding: 'utf8', timeout: 60_000 });
  t.equal(run.status, 0, run.stderr);
  t.same(run.stdout.trim().split('\n'), [
    'put ok: True',
    'range has value: True',
    'empty key: StatusCode.INVALID_ARGUMENT etcdserver: key is not provided',
    'unknown method: StatusCode.UNIMPLEMENTED unknown method Nope for service etcdserverpb.KV',
    'watch created: True',
    'watch event has value: True',
    '500 concurrent puts ok: True',
    '1 MiB put ok: True',
    '1 MiB range back: True',
  ]);
});
