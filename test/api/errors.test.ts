/**
 * Pins the error catalog (src/api/errors.ts) to shared/spec/etcd-v3-api.md: every message of
 * §5.1 has a catalog entry with that exact text and the code etcd emits (the first code named in
 * the row, or the "actually emits" one), every §5.2 message is an Unknown entry, every catalog
 * entry's text appears in the spec, and each entry's HTTP status is §7.5's for its code. The spec
 * file is parsed here, so a changed spec fails the test.
 */
import t from 'tap';
import {
  EtcdError, GrpcCode, catalogEntryByMessage, errorCatalog, httpStatusOf,
} from '../../src/api/index.js';
import type { EtcdErrorCode } from '../../src/api/index.js';
import { cells, readSpec, section, specPath } from './spec-file.js';

const spec = readSpec();

t.test('EtcdError carries the catalog entry', async (t) => {
  const e = new EtcdError('ErrCompacted');
  t.equal(e.message, 'etcdserver: mvcc: required revision has been compacted');
  t.equal(e.grpcCode, GrpcCode.OutOfRange);
  t.equal(e.httpStatus, 400);
  t.equal(e.code, 'ErrCompacted');
  t.ok(e instanceof Error);
  t.equal(catalogEntryByMessage('etcdserver: no leader')?.code, 'ErrNoLeader');
  t.equal(catalogEntryByMessage('etcdserver: no such thing'), undefined);
});

t.test('catalog messages and sentinel names are unique', async (t) => {
  const messages = Object.values(errorCatalog).map((e) => e.message);
  t.equal(new Set(messages).size, messages.length);
  for (const [name, entry] of Object.entries(errorCatalog)) {
    t.equal(entry.code, name);
    t.match(name, /^Err[A-Z]/);
  }
});

t.test('catalog pinned to the spec', { skip: spec === undefined ? `spec not found at ${specPath}` : false },
  async (t) => {
    const text = spec as string;
    const rows51 = section(text, '### 5.1').map(cells).filter((c): c is string[] =>
      c !== undefined && c[0] !== 'Message (exact)');
    t.ok(rows51.length >= 60, `§5.1 has its rows (${rows51.length})`);
    for (const [messageCell, codeCell] of rows51) {
      const message = /^`(.*)`$/.exec(messageCell ?? '')?.[1];
      t.ok(message !== undefined, `message cell ${messageCell}`);
      const entry = catalogEntryByMessage(message as string);
      t.ok(entry !== undefined, `catalog has "${message}"`);
      const emitted = /actually emits \w+ \((\d+)\)/.exec(codeCell ?? '')
        ?? /\((\d+)\)/.exec(codeCell ?? '');
      t.equal(entry?.grpcCode, Number(emitted?.[1]), `code of "${message}"`);
    }
    const rows52 = section(text, '### 5.2').map(cells).filter((c): c is string[] =>
      c !== undefined && c[0] !== 'Message');
    const unmapped = rows52.flatMap(([m]) => [...(m ?? '').matchAll(/`([^`]+)`/g)].map((x) => x[1]));
    for (const message of unmapped) {
      // The raw `auth: ...` admin-check texts are recommended to be sent mapped; only the first
      // (no-password user) has no mapped form and is in the catalog.
      const entry = catalogEntryByMessage(message as string);
      if (entry !== undefined) t.equal(entry.grpcCode, GrpcCode.Unknown, `"${message}" is Unknown`);
      else t.match(message, /^auth: (permission denied|user name is empty|user not found|invalid auth token)$/);
    }
    for (const entry of Object.values(errorCatalog)) {
      t.ok(text.includes('`' + entry.message + '`'), `spec lists "${entry.message}"`);
    }
    t.equal(Object.keys(errorCatalog).length, rows51.length + 3,
      'catalog = §5.1 plus the three §5.2 messages without a mapped form');
  });

t.test('HTTP statuses are §7.5 grpc-gateway mapping',
  { skip: spec === undefined ? `spec not found at ${specPath}` : false }, async (t) => {
    const rows = section(spec as string, '### 7.5').map(cells).filter((c) => c !== undefined);
    const codes = rows.find((c) => c[0] === 'gRPC code')?.slice(1) ?? [];
    const https = rows.find((c) => c[0] === 'HTTP')?.slice(1) ?? [];
    t.ok(codes.length >= 13, 'the code row parsed');
    // Where a real etcd 3.4.23 was seen to answer otherwise, etcd-observed.md wins: it answers
    // FailedPrecondition ("lease already exists") with 412, not the table's 400.
    const observed: Record<string, number> = { '9': 412 };
    codes.forEach((code, i) => {
      const http = observed[code] ?? Number(/^\d+/.exec(https[i] ?? '')?.[0]);
      t.equal(httpStatusOf(Number(code) as GrpcCode), http, `code ${code} -> HTTP ${http}`);
    });
    for (const [name, entry] of Object.entries(errorCatalog)) {
      t.equal(entry.httpStatus, httpStatusOf(entry.grpcCode), name as EtcdErrorCode);
    }
  });
