/**
 * A self-signed certificate for etcd's --auto-tls and --peer-auto-tls, made as etcd's
 * transport.SelfCert makes it: an ECDSA P-256 key, organization "etcd", the listen hosts as
 * subject alternative names (IP addresses and DNS names), server and client auth, valid for a
 * year. Nobody can verify such a certificate (etcd's clients of auto-TLS ports skip verification
 * too); it only encrypts.
 *
 * node:crypto makes keys and signatures but no certificates, so the TBSCertificate is written
 * here in DER (RFC 5280) with the few ASN.1 types it needs; node:crypto's X509Certificate reads
 * the result back in the tests.
 */
import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';

export interface SelfCert {
  /** PEM certificate. */
  readonly cert: string;
  /** PEM private key (PKCS#8). */
  readonly key: string;
}

/** How long a self-signed certificate is valid (etcd: one year). */
export const SELF_CERT_VALID_DAYS = 365;

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.of(0x80 | bytes.length, ...bytes);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.of(tag), length(body.length), body]);
}

const seq = (...c: Buffer[]): Buffer => tlv(0x30, ...c);
const set = (...c: Buffer[]): Buffer => tlv(0x31, ...c);

function integer(bytes: Buffer): Buffer {
  let b = bytes;
  while (b.length > 1 && b[0] === 0 && (b[1]! & 0x80) === 0) b = b.subarray(1);
  return tlv(0x02, (b[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.of(0), b]) : b);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function utcTime(d: Date): Buffer {
  const p = (n: number): string => String(n).padStart(2, '0');
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}`
    + `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s, 'ascii'));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand '::' and write eight 16-bit groups.
  const [head = '', tail = ''] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = ip.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}

const ECDSA_WITH_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

function nameOf(commonName: string | undefined): Buffer {
  const o = set(seq(oid('2.5.4.10'), tlv(0x0c, Buffer.from('etcd'))));
  return commonName === undefined ? seq(o) : seq(o, set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(commonName)))));
}

export interface CertOptions {
  /** The subject's common name (none by default, as etcd's). */
  readonly commonName?: string;
  /** A certificate authority (it may sign others) instead of an end entity. */
  readonly ca?: boolean;
  /** Sign with this authority (made with `ca`) instead of the certificate's own key. */
  readonly issuer?: SelfCert & { readonly commonName?: string };
}

/**
 * Makes a key and a certificate naming `hosts` (IP addresses or DNS names): self-signed, or signed
 * by `options.issuer` (the tests make a CA and client certificates with it).
 */
export function selfCert(hosts: readonly string[], now: Date, options: CertOptions = {}): SelfCert {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const name = nameOf(options.commonName);
  const issuerName = options.issuer === undefined ? name : nameOf(options.issuer.commonName);
  const signer = options.issuer === undefined ? privateKey : createPrivateKey(options.issuer.key);
  const notAfter = new Date(now.getTime() + SELF_CERT_VALID_DAYS * 86_400_000);
  const unique = [...new Set(hosts)];
  const altNames = unique.map((h) => (isIP(h) !== 0 ? tlv(0x87, ipBytes(h)) : tlv(0x82, Buffer.from(h, 'ascii'))));
  const extensions = options.ca === true ? [
    // keyUsage (critical): keyCertSign, cRLSign; basicConstraints (critical): a CA.
    seq(oid('2.5.29.15'), tlv(0x01, Buffer.of(0xff)), tlv(0x04, tlv(0x03, Buffer.of(0x01, 0x06)))),
    seq(oid('2.5.29.19'), tlv(0x01, Buffer.of(0xff)), tlv(0x04, seq(tlv(0x01, Buffer.of(0xff))))),
  ] : [
    // keyUsage (critical): digitalSignature, keyEncipherment.
    seq(oid('2.5.29.15'), tlv(0x01, Buffer.of(0xff)), tlv(0x04, tlv(0x03, Buffer.of(0x05, 0xa0)))),
    // extKeyUsage: serverAuth, clientAuth (a peer's certificate serves both ends).
    seq(oid('2.5.29.37'), tlv(0x04, seq(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2')))),
    // basicConstraints (critical): not a CA.
    seq(oid('2.5.29.19'), tlv(0x01, Buffer.of(0xff)), tlv(0x04, seq())),
    ...(altNames.length > 0 ? [seq(oid('2.5.29.17'), tlv(0x04, seq(...altNames)))] : []),
  ];
  const tbs = seq(
    tlv(0xa0, integer(Buffer.of(2))),
    integer(serial),
    ECDSA_WITH_SHA256,
    issuerName,
    seq(utcTime(now), utcTime(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, seq(...extensions)),
  );
  const signature = sign('sha256', tbs, signer);
  const der = seq(tbs, ECDSA_WITH_SHA256, tlv(0x03, Buffer.of(0), signature));
  const cert = new X509Certificate(der).toString();
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { cert, key };
}
