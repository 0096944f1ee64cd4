/**
 * TLS as etcd's flags set it up, with real processes and clients. A member serving an https and
 * an http client URL side by side, with a CA-signed certificate and --client-cert-auth: etcdctl
 * and the etcd3 client with a client certificate work, etcdctl without one is refused, the JSON
 * gateway answers over TLS, the http URL stays cleartext. A member with --auto-tls serves etcdctl
 * with --insecure-skip-tls-verify. A three-member cluster whose peers talk TLS with CA-signed
 * certificates and --peer-client-cert-auth replicates writes. Certificates are made by the test
 * (src/runtime/node/self-cert.ts). With --client-crl-file a revoked client certificate is refused;
 * --cipher-suites limits TLS 1.2 to the suites named.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Etcd3 } from 'etcd3';
import { etcdctl, etcdMissing, freePort } from '../helpers/real-etcd.js';
import { startStrata, startStrataCluster } from '../helpers/strata-server.js';
import { selfCert } from '../../src/runtime/node/index.js';
import { makeCrl } from '../helpers/crl.js';

const dir = mkdtempSync(join(tmpdir(), 'strata-tls-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const now = new Date();
const ca = { ...selfCert([], now, { ca: true, commonName: 'strata-test-ca' }), commonName: 'strata-test-ca' };
const server = selfCert(['127.0.0.1', 'localhost'], now, { issuer: ca });
const client = selfCert([], now, { issuer: ca, commonName: 'strata-test-client' });
const files = {
  ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key'),
  clientCert: join(dir, 'client.crt'), clientKey: join(dir, 'client.key'),
};
writeFileSync(files.ca, ca.cert);
writeFileSync(files.cert, server.cert);
writeFileSync(files.key, server.key);
writeFileSync(files.clientCert, client.cert);
writeFileSync(files.clientKey, client.key);

t.test('client TLS with client certificates, beside a cleartext URL', { skip: etcdMissing() }, async (t) => {
  const plainPort = await freePort();
  const s = await startStrata({
    clientScheme: 'https',
    // A second listen URL, cleartext (etcd serves every --listen-client-urls entry).
    extraClientUrls: [`http://127.0.0.1:${plainPort}`],
    extraArgs: [
      `--cert-file=${files.cert}`, `--key-file=${files.key}`, `--trusted-ca-file=${files.ca}`, '--client-cert-auth',
    ],
  });
  t.teardown(() => s.stop());
  const tlsArgs = [`--cacert=${files.ca}`, `--cert=${files.clientCert}`, `--key=${files.clientKey}`];
  const put = await etcdctl(s.clientUrl, [...tlsArgs, 'put', 'k', 'over-tls']);
  t.equal(put.stdout.trim(), 'OK', put.stderr);
  const get = await etcdctl(s.clientUrl, [...tlsArgs, 'get', 'k', '--print-value-only']);
  t.equal(get.stdout.trim(), 'over-tls', get.stderr);
  const refused = await etcdctl(s.clientUrl, [`--cacert=${files.ca}`, '--dial-timeout=2s', '--command-timeout=3s', 'get', 'k']);
  t.not(refused.code, 0, 'no client certificate: refused');

  const c = new Etcd3({
    hosts: s.clientUrl,
    credentials: {
      rootCertificate: Buffer.from(ca.cert), certChain: Buffer.from(client.cert), privateKey: Buffer.from(client.key),
    },
  });
  t.teardown(() => c.close());
  await c.put('etcd3').value('yes');
  t.equal(await c.get('k').string(), 'over-tls', 'the etcd3 client over TLS');

  const json = await new Promise<string>((resolve, reject) => {
    const req = request(`${s.clientUrl}/v3/kv/range`, {
      method: 'POST', ca: ca.cert, cert: client.cert, key: client.key,
    }, (res) => {
      let body = '';
      res.on('data', (d) => { body += String(d); });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ key: Buffer.from('etcd3').toString('base64') }));
  });
  t.match(json, /"value":"eWVz"/, 'the JSON gateway over TLS');

  // ALPN: a client offering both protocols (as curl does) gets HTTP/1 for the gateway; one
  // offering h2 alone (gRPC) gets h2.
  const alpn = (offer: string[]): Promise<string | false | null> => new Promise((resolve, reject) => {
    const u = new URL(s.clientUrl);
    const c = tlsConnect({
      host: u.hostname, port: Number(u.port), ALPNProtocols: offer, ca: ca.cert, cert: client.cert, key: client.key,
    }, () => {
      resolve(c.alpnProtocol);
      c.destroy();
    });
    c.on('error', reject);
  });
  t.equal(await alpn(['h2', 'http/1.1']), 'http/1.1', 'curl-like clients get HTTP/1');
  t.equal(await alpn(['h2']), 'h2', 'gRPC clients get h2');

  const plain = await etcdctl(`127.0.0.1:${plainPort}`, ['get', 'etcd3', '--print-value-only']);
  t.equal(plain.stdout.trim(), 'yes', `the http URL stays cleartext: ${plain.stderr}`);
});

t.test('--client-crl-file: a revoked client certificate is refused, as etcd refuses it', { skip: etcdMissing() }, async (t) => {
  const revoked = selfCert([], now, { issuer: ca, commonName: 'strata-test-revoked' });
  const revokedFiles = { cert: join(dir, 'revoked.crt'), key: join(dir, 'revoked.key'), crl: join(dir, 'revoke.crl') };
  writeFileSync(revokedFiles.cert, revoked.cert);
  writeFileSync(revokedFiles.key, revoked.key);
  writeFileSync(revokedFiles.crl, makeCrl(ca, [new X509Certificate(revoked.cert).serialNumber], now));
  const s = await startStrata({
    clientScheme: 'https',
    extraArgs: [
      `--cert-file=${files.cert}`, `--key-file=${files.key}`, `--trusted-ca-file=${files.ca}`, '--client-cert-auth',
      `--client-crl-file=${revokedFiles.crl}`,
    ],
  });
  t.teardown(() => s.stop());
  const short = ['--dial-timeout=2s', '--command-timeout=3s'];
  const bad = await etcdctl(s.clientUrl, [`--cacert=${files.ca}`, `--cert=${revokedFiles.cert}`, `--key=${revokedFiles.key}`, ...short, 'put', 'k', 'v']);
  t.not(bad.code, 0, 'the revoked certificate is refused');
  t.match(bad.stderr, /Error:/, 'etcdctl reports an error, as with etcd');
  const good = [`--cacert=${files.ca}`, `--cert=${files.clientCert}`, `--key=${files.clientKey}`, ...short];
  t.equal((await etcdctl(s.clientUrl, [...good, 'put', 'k', 'v'])).stdout.trim(), 'OK', 'a certificate not listed is served');
  // The list is read on every connection, as etcd reads it: revoking the other certificate too
  // takes effect without a restart.
  writeFileSync(revokedFiles.crl, makeCrl(ca, [new X509Certificate(client.cert).serialNumber], now));
  t.not((await etcdctl(s.clientUrl, [...good, 'get', 'k'])).code, 0, 'a newly revoked certificate is refused');
  t.equal((await etcdctl(s.clientUrl, [`--cacert=${files.ca}`, `--cert=${revokedFiles.cert}`, `--key=${revokedFiles.key}`, ...short, 'get', 'k', '--print-value-only'])).stdout.trim(),
    'v', 'and one taken off the list is served again');
});

t.test('--cipher-suites restricts TLS 1.2 to the suites named, as in etcd', async (t) => {
  const s = await startStrata({
    clientScheme: 'https',
    extraArgs: [`--cert-file=${files.cert}`, `--key-file=${files.key}`,
      '--cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
  });
  t.teardown(() => s.stop());
  const u = new URL(s.clientUrl);
  const handshake = (options: { ciphers?: string; maxVersion?: 'TLSv1.2' }): Promise<string> => new Promise((resolve) => {
    const c = tlsConnect({ host: u.hostname, port: Number(u.port), servername: '', ca: ca.cert, ...options }, () => {
      resolve(`${c.getProtocol()} ${c.getCipher().standardName}`);
      c.destroy();
    });
    c.on('error', (err) => resolve(`error: ${err.message}`));
  });
  t.equal(await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }),
    'TLSv1.2 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'a suite named is served');
  t.match(await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' }),
    /^error: .*handshake failure/, 'a suite not named is refused');
  t.match(await handshake({}), /^TLSv1\.3 /, 'TLS 1.3 keeps its own suites (Go does not configure them)');
});

t.test('--auto-tls: a self-signed certificate, as etcd makes one', { skip: etcdMissing() }, async (t) => {
  const s = await startStrata({ clientScheme: 'https', extraArgs: ['--auto-tls'] });
  t.teardown(() => s.stop());
  const args = ['--insecure-transport=false', '--insecure-skip-tls-verify'];
  t.equal((await etcdctl(s.endpoint, [...args, 'put', 'a', '1'])).stdout.trim(), 'OK');
  t.equal((await etcdctl(s.endpoint, [...args, 'get', 'a', '--print-value-only'])).stdout.trim(), '1');
  const verified = await etcdctl(s.clientUrl, ['--dial-timeout=2s', '--command-timeout=3s', 'get', 'a']);
  t.not(verified.code, 0, 'a client that verifies refuses the self-signed certificate');
});

t.test('a cluster whose peers talk TLS and check each other\'s certificates', async (t) => {
  const members = await startStrataCluster(3, {
    peerScheme: 'https',
    extraArgs: [
      `--peer-cert-file=${files.cert}`, `--peer-key-file=${files.key}`, `--peer-trusted-ca-file=${files.ca}`,
      '--peer-client-cert-auth',
    ],
  });
  t.teardown(() => Promise.all(members.map((m) => m.stop())));
  const clients = members.map((m) => new Etcd3({ hosts: m.clientUrl }));
  t.teardown(() => clients.forEach((c) => c.close()));
  await clients[0]!.put('p').value('replicated');
  for (let i = 0; i < 3; i++) t.equal(await clients[i]!.get('p').string(), 'replicated', `member ${i + 1}`);
});
