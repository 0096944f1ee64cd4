/**
 * Certificate revocation lists for --client-crl-file and --peer-crl-file, checked as etcd's
 * transport package checks them (pkg/transport/listener_tls.go, checkCRL): after the handshake,
 * the file is read again (so a replaced list takes effect without a restart), and a connection
 * whose certificate chain holds a revoked serial number is closed. Like etcd, only the serial
 * numbers count: the list's dates and signature are not checked (etcd's own test fixture expired
 * in 2021 and is still honoured), so the file must come from a trusted place, as the CA file does.
 *
 * node:tls has a `crl` option, but OpenSSL then demands a current list signed by every issuer in
 * the chain and refuses every connection when it is out of date; that is not etcd's behaviour.
 * So the list (DER or PEM, RFC 5280 section 5.1) is read here with the few ASN.1 rules it needs.
 */
import { readFileSync } from 'node:fs';
import type { PeerCertificate, TLSSocket } from 'node:tls';

/** A CRL file larger than this is refused (etcd reads it whole as well). */
export const CRL_FILE_BYTES_MAX = 64 * 1024 * 1024;

interface Tlv {
  readonly tag: number;
  /** Start of the content. */
  readonly start: number;
  /** End of the content (exclusive). */
  readonly end: number;
}

function readTlv(b: Uint8Array, at: number, limit: number): Tlv {
  if (at + 2 > limit) throw new Error('truncated DER');
  const tag = b[at]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('multi-byte DER tags are not used in a CRL');
  let len = b[at + 1]!;
  let start = at + 2;
  if (len === 0x80) throw new Error('indefinite DER length');
  if (len > 0x80) {
    const n = len & 0x7f;
    if (n > 4 || start + n > limit) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[start + i]!;
    start += n;
  }
  if (start + len > limit) throw new Error('truncated DER');
  return { tag, start, end: start + len };
}

/** The children of a constructed value. */
function children(b: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end;) {
    const t = readTlv(b, at, parent.end);
    out.push(t);
    at = t.end;
  }
  return out;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;

/** A serial number as lowercase hex of its magnitude without leading zeros (Go's big.Int Bytes). */
export function normalSerial(hex: string): string {
  const s = hex.toLowerCase().replace(/^0+/, '');
  return s === '' ? '0' : s;
}

function hexOf(b: Uint8Array, t: Tlv): string {
  return normalSerial(Buffer.from(b.subarray(t.start, t.end)).toString('hex'));
}

/** DER bytes of a CRL given as DER or as PEM ("-----BEGIN X509 CRL-----"). */
function derOf(file: Uint8Array): Uint8Array {
  const text = Buffer.from(file.subarray(0, 64)).toString('latin1');
  if (!text.includes('-----BEGIN')) return file;
  const pem = Buffer.from(file).toString('latin1');
  const m = /-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/.exec(pem);
  if (m === null) throw new Error('no "X509 CRL" PEM block');
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

/** The revoked serial numbers (normalSerial form) of a CRL file's contents; throws if malformed. */
export function revokedSerials(file: Uint8Array): ReadonlySet<string> {
  const b = derOf(file);
  const list = readTlv(b, 0, b.length);
  if (list.tag !== SEQUENCE) throw new Error('a CRL is a SEQUENCE');
  const [tbs] = children(b, list);
  if (tbs === undefined || tbs.tag !== SEQUENCE) throw new Error('a CRL starts with its TBSCertList');
  const fields = children(b, tbs);
  let i = 0;
  if (fields[i]?.tag === INTEGER) i++; // version
  if (fields[i]?.tag !== SEQUENCE) throw new Error('CRL signature algorithm missing');
  i++;
  if (fields[i]?.tag !== SEQUENCE) throw new Error('CRL issuer missing');
  i++;
  const isTime = (t: Tlv | undefined): boolean => t !== undefined && (t.tag === UTC_TIME || t.tag === GENERALIZED_TIME);
  if (!isTime(fields[i])) throw new Error('CRL thisUpdate missing');
  i++;
  if (isTime(fields[i])) i++; // nextUpdate
  const out = new Set<string>();
  const revoked = fields[i];
  if (revoked === undefined || revoked.tag !== SEQUENCE) return out; // no entries (extensions are [0])
  for (const entry of children(b, revoked)) {
    if (entry.tag !== SEQUENCE) throw new Error('a revoked entry is a SEQUENCE');
    const serial = children(b, entry)[0];
    if (serial === undefined || serial.tag !== INTEGER) throw new Error('a revoked entry starts with a serial');
    out.add(hexOf(b, serial));
  }
  return out;
}

/** Reads and parses a CRL file; throws with the reason if it cannot be used. */
export function readCrl(path: string): ReadonlySet<string> {
  const bytes = readFileSync(path);
  if (bytes.length > CRL_FILE_BYTES_MAX) throw new Error(`${path} is over ${CRL_FILE_BYTES_MAX} bytes`);
  return revokedSerials(bytes);
}

/** The serial numbers of the certificate a TLS peer presented and of its issuers, as far as known. */
function chainSerials(socket: TLSSocket): string[] {
  const out: string[] = [];
  let c: PeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<PeerCertificate>();
  while (c !== undefined && c !== null && Object.keys(c).length > 0 && !seen.has(c)) {
    seen.add(c);
    if (typeof c.serialNumber === 'string') out.push(normalSerial(c.serialNumber));
    c = (c as { issuerCertificate?: PeerCertificate }).issuerCertificate;
  }
  return out;
}

/**
 * Why `socket` must be closed under the CRL in `crlFile` (a revoked serial, or an unreadable
 * list, which etcd also treats as a refusal), or null when it may stay.
 */
export function crlRefusal(crlFile: string, socket: TLSSocket): string | null {
  let revoked: ReadonlySet<string>;
  try {
    revoked = readCrl(crlFile);
  } catch (err) {
    return `cannot read the CRL ${crlFile}: ${err instanceof Error ? err.message : String(err)}`;
  }
  for (const serial of chainSerials(socket)) {
    if (revoked.has(serial)) return `certificate serial ${serial} revoked`;
  }
  return null;
}
