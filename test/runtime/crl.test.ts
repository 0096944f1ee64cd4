/**
 * crl.ts: revocation lists read as etcd reads them (serial numbers only), in DER and PEM, with
 * and without entries; malformed lists are refused with a reason. etcd's own fixture (expired in
 * 2021, and still honoured by etcd) is read too when Debian's golang-etcd-server-dev is present.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import t from 'tap';
import { normalSerial, readCrl, revokedSerials, selfCert } from '../../src/runtime/node/index.js';
import { makeCrl } from '../helpers/crl.js';

const now = new Date();
const ca = { ...selfCert([], now, { ca: true, commonName: 'crl-test-ca' }), commonName: 'crl-test-ca' };
const a = selfCert([], now, { issuer: ca, commonName: 'a' });
const b = selfCert([], now, { issuer: ca, commonName: 'b' });
const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber;

t.test('the serials of a DER list, normalised as Go big.Int bytes', async (t) => {
  const crl = makeCrl(ca, [serialOf(a.cert), '00ff', '7'], now);
  const got = revokedSerials(crl);
  t.same([...got].sort(), [normalSerial(serialOf(a.cert)), 'ff', '7'].sort());
  t.notOk(got.has(normalSerial(serialOf(b.cert))));
});

t.test('a PEM list and an empty list', async (t) => {
  const der = makeCrl(ca, [serialOf(b.cert)], now);
  const pem = `-----BEGIN X509 CRL-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END X509 CRL-----\n`;
  t.same([...revokedSerials(Buffer.from(pem))], [normalSerial(serialOf(b.cert))]);
  t.same([...revokedSerials(makeCrl(ca, [], now))], []);
});

t.test('malformed lists are refused with a reason', async (t) => {
  t.throws(() => revokedSerials(Buffer.from('not a crl at all')), /SEQUENCE|DER/);
  const der = makeCrl(ca, [serialOf(a.cert)], now);
  t.throws(() => revokedSerials(der.subarray(0, der.length - 10)), /truncated/);
  t.throws(() => revokedSerials(Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')), /X509 CRL/);
  t.throws(() => revokedSerials(Buffer.of(0x30, 0x80, 0, 0)), /indefinite/);
});

const fixture = '/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures/revoke.crl';
t.test("etcd's fixture list", { skip: existsSync(fixture) ? false : 'golang-etcd-server-dev is not installed' }, async (t) => {
  t.same([...readCrl(fixture)], ['4a3cf9f9dcc21a01b4a0efaef7546aaee8fbd194']);
});
