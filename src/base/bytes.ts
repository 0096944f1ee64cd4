/**
 * Byte keys. etcd's key space is flat and binary: keys compare as unsigned bytes, a range is
 * [key, rangeEnd), and a prefix's range end is the prefix with its last byte below 0xff
 * incremented (trailing 0xff bytes dropped).
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/** The empty byte string; never mutate it. */
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/** The single zero byte: as a range end it means "every key >= key", as a key the minimum. */
export const ZERO_BYTE: Uint8Array = Uint8Array.of(0);

/** Compares two byte strings as unsigned bytes, shorter first on a common prefix (memcmp order). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/**
 * A copy of `bytes` in a fresh Uint8Array of exactly its length. Never use `.slice()` for this:
 * on a Node Buffer (what sockets and lmdb-js hand out) `slice` returns a view, not a copy.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The smallest key greater than every key that starts with `prefix`. A prefix of only 0xff bytes
 * (or the empty prefix) has no such key; like etcd we return "\0", which as a range end means
 * "to the end of the key space".
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = copyBytes(prefix.subarray(0, i + 1));
      end[i] = end[i]! + 1;
      return end;
    }
  }
  return ZERO_BYTE;
}

/** Encodes a string as UTF-8 bytes. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8 bytes for display; invalid sequences become U+FFFD. */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Writes `n` (0..2^32-1) as 4 bytes big-endian at `at`. */
export function writeUint32BE(out: Uint8Array, at: number, n: number): void {
  out[at] = n >>> 24;
  out[at + 1] = (n >>> 16) & 0xff;
  out[at + 2] = (n >>> 8) & 0xff;
  out[at + 3] = n & 0xff;
}

export function readUint32BE(b: Uint8Array, at: number): number {
  return b[at]! * 0x100_0000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
}

/** Writes a non-negative integer below 2^53 as 8 bytes big-endian at `at` (byte order = number order). */
export function writeUint64BE(out: Uint8Array, at: number, n: number): void {
  writeUint32BE(out, at, Math.floor(n / 0x1_0000_0000));
  writeUint32BE(out, at + 4, n >>> 0);
}

/** Reads 8 bytes big-endian at `at`; above 2^53 the result is not exact (callers assert it is safe). */
export function readUint64BE(b: Uint8Array, at: number): number {
  return readUint32BE(b, at) * 0x1_0000_0000 + readUint32BE(b, at + 4);
}
