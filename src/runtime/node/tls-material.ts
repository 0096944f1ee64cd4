/**
 * TLS material for one side of a member (its client URLs or its peer URLs), from etcd's flags:
 * a certificate and key from files (`--cert-file`/`--key-file`, `--peer-cert-file`/...), or a
 * self-signed pair made at start (`--auto-tls`, `--peer-auto-tls`); the CA that verifies the
 * other end (`--trusted-ca-file`, system roots when absent); whether client certificates are
 * required (`--client-cert-auth`). With auto TLS nothing is verified, as in etcd: the pair only
 * encrypts.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions, TLSSocket, TlsOptions } from 'node:tls';
import { opensslCiphers } from './cipher-suites.js';
import { crlRefusal, readCrl } from './crl.js';
import { selfCert } from './self-cert.js';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly trustedCaFile: string;
  readonly clientCertAuth: boolean;
  readonly autoTls: boolean;
  /** --client-crl-file / --peer-crl-file; '' for none. */
  readonly crlFile: string;
  /** --cipher-suites (Go names, shared by both sides); empty: the defaults. */
  readonly cipherSuites: readonly string[];
}

export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  /** PEM of the trusted CA; absent: the system's roots. */
  readonly ca?: string;
  /** Require and verify the other end's certificate when it connects to us. */
  readonly clientCertAuth: boolean;
  /** Made by us (auto TLS): peers' certificates are not verified either. */
  readonly auto: boolean;
  /** A revocation list checked on every connection accepted (crl.ts); absent: none. */
  readonly crlFile?: string;
  /** node:tls `ciphers` for TLS 1.2 (cipher-suites.ts); absent: the defaults. */
  readonly ciphers?: string;
}

/** Why `files` cannot serve TLS, or null when they can (or when none are asked for). */
export function tlsProblem(files: TlsFiles, side: string): string | null {
  if ((files.certFile === '') !== (files.keyFile === '')) return `${side} TLS needs both a cert file and a key file`;
  if (files.clientCertAuth && files.trustedCaFile === '') return `${side} client cert auth needs a trusted CA file`;
  if (files.crlFile !== '') {
    try {
      readCrl(files.crlFile);
    } catch (err) {
      return `${side} CRL file ${files.crlFile}: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  return null;
}

/** Whether the flags configure TLS at all. */
export function hasTls(files: TlsFiles): boolean {
  return files.certFile !== '' || files.autoTls;
}

/** Reads (or, with auto TLS and no files, makes) the material; `hosts` name this member. */
export function loadTls(files: TlsFiles, hosts: readonly string[], now: Date): TlsMaterial {
  const ca = files.trustedCaFile === '' ? undefined : readFileSync(files.trustedCaFile, 'utf8');
  const ciphers = opensslCiphers(files.cipherSuites);
  const crl = { ...(files.crlFile !== '' && { crlFile: files.crlFile }), ...(ciphers !== undefined && { ciphers }) };
  if (files.certFile !== '') {
    return {
      cert: readFileSync(files.certFile, 'utf8'), key: readFileSync(files.keyFile, 'utf8'),
      ...(ca !== undefined && { ca }), clientCertAuth: files.clientCertAuth, auto: false, ...crl,
    };
  }
  const made = selfCert(hosts, now);
  return { ...made, ...(ca !== undefined && { ca }), clientCertAuth: files.clientCertAuth, auto: true, ...crl };
}

/** Options of a TLS server serving with `m`. */
export function serverTls(m: TlsMaterial, alpn: readonly string[]): TlsOptions {
  return {
    cert: m.cert, key: m.key, ...(m.ca !== undefined && { ca: m.ca }),
    requestCert: m.clientCertAuth, rejectUnauthorized: m.clientCertAuth, ALPNProtocols: [...alpn],
    ...(m.ciphers !== undefined && { ciphers: m.ciphers }),
  };
}

/** Options of a TLS client presenting `m` (peers present their certificate as clients too). */
export function clientTls(m: TlsMaterial, host: string): ConnectionOptions {
  return {
    cert: m.cert, key: m.key, ...(m.ca !== undefined && { ca: m.ca }),
    rejectUnauthorized: !m.auto, servername: /^[\d.:]+$/.test(host) ? '' : host,
    ...(m.ciphers !== undefined && { ciphers: m.ciphers }),
  };
}

/** Why a connection accepted with `m` must be closed (its CRL), or null; undefined: no CRL. */
export function acceptCheck(m: TlsMaterial): ((socket: TLSSocket) => string | null) | undefined {
  const file = m.crlFile;
  return file === undefined ? undefined : (socket) => crlRefusal(file, socket);
}
