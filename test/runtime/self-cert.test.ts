/**
 * Self-signed certificates for --auto-tls / --peer-auto-tls, read back with node:crypto's X509
 * parser: the names asked for (IPv4, IPv6, DNS), etcd's organization, a year of validity, a
 * signature that verifies with the certificate's own key, the key pair matching; and a CA that
 * signs an end entity which verifies against it (what the client-cert-auth tests use).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { connect, createServer } from 'node:tls';
import t from 'tap';
import { SELF_CERT_VALID_DAYS, selfCert } from '../../src/runtime/node/self-cert.js';

const NOW = new Date('2026-12-07T10:00:00Z');

t.test('a self-signed certificate as etcd makes one', (t) => {
  const c = selfCert(['127.0.0.1', '::1', 'localhost', '127.0.0.1'], NOW);
  const x = new X509Certificate(c.cert);
  t.equal(x.subject, 'O=etcd');
  t.equal(x.issuer, 'O=etcd');
  t.equal(x.subjectAltName, 'IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:localhost', 'each host once');
  t.equal(new Date(x.validFrom).getTime(), NOW.getTime());
  t.equal(new Date(x.validTo).getTime() - NOW.getTime(), SELF_CERT_VALID_DAYS * 86_400_000);
  t.ok(x.verify(x.publicKey), 'signed by its own key');
  t.ok(x.checkPrivateKey(createPrivateKey(c.key)), 'the key is its key');
  t.same(x.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'server and client auth');
  t.notOk(x.ca);
  t.not(new X509Certificate(selfCert(['127.0.0.1'], NOW).cert).serialNumber, x.serialNumber, 'random serials');
  t.end();
});

t.test('a CA and a certificate it signs; TLS verifies the chain', async (t) => {
  const now = new Date();
  const ca = { ...selfCert([], now, { ca: true, commonName: 'test-ca' }), commonName: 'test-ca' };
  const server = selfCert(['127.0.0.1'], now, { issuer: ca });
  const client = selfCert([], now, { issuer: ca, commonName: 'someone' });
  const caX = new X509Certificate(ca.cert);
  t.ok(caX.ca, 'a CA');
  const serverX = new X509Certificate(server.cert);
  t.equal(serverX.issuer, 'O=etcd\nCN=test-ca');
  t.ok(serverX.verify(caX.publicKey), 'signed by the CA');
  t.ok(serverX.checkIssued(caX), 'issued by the CA');
  const s = createServer({ cert: server.cert, key: server.key, ca: ca.cert, requestCert: true, rejectUnauthorized: true },
    (sock) => sock.end(`hello ${(sock.getPeerCertificate().subject as { CN?: string }).CN ?? ''}`));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => s.close());
  const port = (s.address() as { port: number }).port;
  const talk = (withCert: boolean): Promise<string> => new Promise((resolve) => {
    let got = '';
    const c = connect({ host: '127.0.0.1', port, ca: ca.cert, ...(withCert && { cert: client.cert, key: client.key }) });
    c.on('data', (d) => { got += String(d); });
    c.on('error', (e) => resolve(`error: ${e.message}`));
    c.on('close', () => resolve(got));
  });
  t.equal(await talk(true), 'hello someone', 'both ends verified');
  t.match(await talk(false), /^(error|$)/, 'no client certificate: refused');
});
