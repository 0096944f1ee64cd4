/**
 * Makes certificate revocation lists for the tests (RFC 5280 section 5.1, DER), signed by a CA
 * made with selfCert: version 2, ecdsa-with-SHA256, the issuer's common name, thisUpdate and
 * nextUpdate, one entry per revoked serial.
 */
import { X509Certificate, createPrivateKey, sign } from 'node:crypto';

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  const len = n < 0x80 ? Buffer.of(n) : n < 0x100 ? Buffer.of(0x81, n) : Buffer.of(0x82, n >> 8, n & 0xff);
  return Buffer.concat([Buffer.of(tag), len, body]);
}
const seq = (...c: Buffer[]): Buffer => tlv(0x30, ...c);

function integerHex(hex: string): Buffer {
  let b = Buffer.from(hex.length % 2 === 1 ? `0${hex}` : hex, 'hex');
  if ((b[0]! & 0x80) !== 0) b = Buffer.concat([Buffer.of(0), b]);
  return tlv(0x02, b);
}

function utcTime(d: Date): Buffer {
  const p = (n: number): string => String(n).padStart(2, '0');
  return tlv(0x17, Buffer.from(`${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}`
    + `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`, 'ascii'));
}

/** ecdsa-with-SHA256 (1.2.840.10045.4.3.2). */
const ECDSA_SHA256 = seq(Buffer.from('06082a8648ce3d040302', 'hex'));

/** A DER CRL by `issuer` (PEM cert and key) revoking `serials` (hex, as X509Certificate shows them). */
export function makeCrl(issuer: { cert: string; key: string }, serials: readonly string[], now: Date): Buffer {
  // The issuer's Name, copied from its certificate: the subject field of its TBSCertificate.
  const subject = issuerName(issuer.cert);
  const entries = serials.map((s) => seq(integerHex(s), utcTime(now)));
  const tbs = seq(
    tlv(0x02, Buffer.of(1)), ECDSA_SHA256, subject, utcTime(now), utcTime(new Date(now.getTime() + 86_400_000)),
    ...(entries.length > 0 ? [seq(...entries)] : []),
  );
  const signature = sign('sha256', tbs, createPrivateKey(issuer.key));
  return seq(tbs, ECDSA_SHA256, tlv(0x03, Buffer.of(0), signature));
}

/** The subject Name (DER) of a PEM certificate. */
function issuerName(pem: string): Buffer {
  const der = new X509Certificate(pem).raw;
  // Certificate -> TBSCertificate -> [0] version, serial, signature alg, issuer, validity, subject.
  const children = (b: Buffer, start: number, end: number): Array<[number, number, number]> => {
    const out: Array<[number, number, number]> = [];
    for (let at = start; at < end;) {
      let len = b[at + 1]!;
      let body = at + 2;
      if (len & 0x80) {
        const n = len & 0x7f;
        len = 0;
        for (let i = 0; i < n; i++) len = len * 256 + b[body + i]!;
        body += n;
      }
      out.push([at, body, body + len]);
      at = body + len;
    }
    return out;
  };
  const [cert] = children(der, 0, der.length);
  const [tbs] = children(der, cert![1], cert![2]);
  const fields = children(der, tbs![1], tbs![2]);
  const subject = fields[der[fields[0]![0]] === 0xa0 ? 5 : 4]!;
  return der.subarray(subject[0], subject[2]);
}
