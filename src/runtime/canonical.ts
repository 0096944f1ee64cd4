/**
 * A canonical encoding of plain data and a fast 32-bit hash over it, for the simulator's trace
 * hash (and any other "same data => same bytes" need). Equal values give equal bytes whatever
 * the key order of their objects; the encoding is prefix-free, so a concatenation of encodings
 * is unambiguous.
 *
 * Encoding (every tag is one byte; u32 is little-endian):
 *   null 'n' | true 't' | false 'f' | undefined 'u'
 *   number: an integer in [-2^31, 2^31) is 'i' + int32; any other number 'd' + float64 LE bits
 *           (NaN canonicalised); -0 counts as the integer 0
 *   bigint 'b' + u32 length + ASCII of its base-16 text (with '-' when negative)
 *   string 's' + u32 UTF-16 length + the UTF-8 (WTF-8 for lone surrogates) of its code points
 *   Uint8Array (and Buffer) 'B' + u32 length + bytes
 *   array 'a' + u32 length + elements
 *   plain object 'o' + u32 key count + (key as a string, value) in code-unit order of the keys
 * Anything else (functions, symbols, Map, Set, class instances other than Uint8Array) is not
 * plain data and fails an assertion.
 *
 * The hash is FNV-1a 32 over those bytes, computed as they are produced (no buffer), so hashing a
 * message allocates nothing except when an object's keys are out of order and its sorted key
 * list is not cached yet.
 */
import { assert } from '../base/index.js';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

const f64 = new DataView(new ArrayBuffer(8));

/** Key layouts remembered per message type. */
const SHAPES_MAX = 1_024;

/** The keys of one object layout: in enumeration order, and sorted (the encoding's order). */
interface Shape {
  readonly order: readonly string[];
  readonly sorted: readonly string[];
}

/** Feeds the canonical encoding of values into an FNV-1a 32 state (and optionally a buffer). */
export class CanonicalHasher {
  /** The FNV-1a 32 state as an int32 (Math.imul's range); `hash` reads it unsigned. */
  #h = FNV_OFFSET | 0;
  readonly #bytes: number[] | null;
  /**
   * The last key layout seen for each message `type`. Messages of one type nearly always have
   * the same keys in the same order, so one enumeration, compared key by key with the remembered
   * order (interned strings: pointer compares), replaces counting, sorting and membership tests.
   */
  readonly #shapes = new Map<string, Shape>();

  /** With `keepBytes` the encoded bytes are also collected (for `canonicalEncode`). */
  constructor(keepBytes = false) {
    this.#bytes = keepBytes ? [] : null;
  }

  /** The bytes written so far (only when constructed with `keepBytes`). */
  bytes(): Uint8Array {
    assert(this.#bytes !== null, 'CanonicalHasher was not asked to keep its bytes');
    return Uint8Array.from(this.#bytes);
  }

  /** FNV-1a 32 of everything written so far, unsigned. */
  get hash(): number {
    return this.#h >>> 0;
  }

  /** Restarts the hash (and the byte buffer). */
  reset(): void {
    this.#h = FNV_OFFSET | 0;
    if (this.#bytes !== null) this.#bytes.length = 0;
  }

  #put(b: number): void {
    this.#h = Math.imul(this.#h ^ b, FNV_PRIME);
    if (this.#bytes !== null) this.#bytes.push(b);
  }

  #u32(n: number): void {
    if (this.#bytes !== null) {
      this.#put(n & 0xff);
      this.#put((n >>> 8) & 0xff);
      this.#put((n >>> 16) & 0xff);
      this.#put(n >>> 24);
      return;
    }
    // The hot path of the trace hash: the same four FNV steps without the byte buffer.
    let h = this.#h;
    h = Math.imul(h ^ (n & 0xff), FNV_PRIME);
    h = Math.imul(h ^ ((n >>> 8) & 0xff), FNV_PRIME);
    h = Math.imul(h ^ ((n >>> 16) & 0xff), FNV_PRIME);
    this.#h = Math.imul(h ^ (n >>> 24), FNV_PRIME);
  }

  /** Writes one value's canonical encoding. */
  value(v: unknown): void {
    switch (typeof v) {
      case 'number': return this.number(v);
      case 'string': return this.string(v);
      case 'boolean': return this.#put(v ? 0x74 : 0x66);
      case 'bigint': return this.#bigint(v);
      case 'undefined': return this.#put(0x75);
      case 'object':
        if (v === null) return this.#put(0x6e);
        if (v instanceof Uint8Array) return this.#byteArray(v);
        if (Array.isArray(v)) return this.#array(v);
        return this.#object(v as Record<string, unknown>);
      default:
        assert(false, `not plain data: a ${typeof v}`);
    }
  }

  number(n: number): void {
    if ((n | 0) === n) {
      this.#put(0x69);
      this.#u32(n >>> 0);
      return;
    }
    this.#put(0x64);
    f64.setFloat64(0, Number.isNaN(n) ? Number.NaN : n, true);
    this.#u32(f64.getUint32(0, true));
    this.#u32(f64.getUint32(4, true));
  }

  string(s: string): void {
    this.#put(0x73);
    this.#u32(s.length);
    let i = 0;
    if (this.#bytes === null) {
      // The hot path of the trace hash: ASCII without a call per character.
      let h = this.#h;
      for (; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        h = Math.imul(h ^ c, FNV_PRIME);
      }
      this.#h = h;
    }
    for (; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        this.#put(c);
        continue;
      }
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d < 0xe000) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        }
      }
      this.#codePoint(c);
    }
  }

  #codePoint(c: number): void {
    if (c < 0x800) {
      this.#put(0xc0 | (c >> 6));
    } else if (c < 0x10000) {
      this.#put(0xe0 | (c >> 12));
      this.#put(0x80 | ((c >> 6) & 0x3f));
    } else {
      this.#put(0xf0 | (c >> 18));
      this.#put(0x80 | ((c >> 12) & 0x3f));
      this.#put(0x80 | ((c >> 6) & 0x3f));
    }
    this.#put(0x80 | (c & 0x3f));
  }

  #bigint(v: bigint): void {
    const text = v.toString(16);
    this.#put(0x62);
    this.#u32(text.length);
    for (let i = 0; i < text.length; i++) this.#put(text.charCodeAt(i));
  }

  #byteArray(v: Uint8Array): void {
    this.#put(0x42);
    this.#u32(v.length);
    for (let i = 0; i < v.length; i++) this.#put(v[i]!);
  }

  #array(v: readonly unknown[]): void {
    this.#put(0x61);
    this.#u32(v.length);
    for (let i = 0; i < v.length; i++) this.value(v[i]);
  }

  #object(v: Record<string, unknown>): void {
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      assert(false, `not plain data: an instance of ${describeProto(proto)}`);
    }
    const keys = this.#sortedKeys(v);
    this.#put(0x6f);
    this.#u32(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      this.string(key);
      this.value(v[key]);
    }
  }

  /** The own enumerable keys of `v` in code-unit order. */
  #sortedKeys(v: Record<string, unknown>): readonly string[] {
    const type = v['type'];
    if (typeof type !== 'string') return Object.keys(v).sort();
    const shape = this.#shapes.get(type);
    if (shape !== undefined && sameOrder(v, shape.order)) return shape.sorted;
    const order = Object.keys(v);
    const sorted = [...order].sort();
    if (shape !== undefined || this.#shapes.size < SHAPES_MAX) this.#shapes.set(type, { order, sorted });
    return sorted;
  }
}

/** Whether the own enumerable keys of `v`, in enumeration order, are exactly `order`. */
function sameOrder(v: Record<string, unknown>, order: readonly string[]): boolean {
  let i = 0;
  for (const key in v) {
    if (key !== order[i]) return false;
    i++;
  }
  return i === order.length;
}

function describeProto(proto: unknown): string {
  const ctor = (proto as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof ctor === 'string' ? ctor : 'an unknown class';
}

/** The canonical encoding of `v` as bytes. */
export function canonicalEncode(v: unknown): Uint8Array {
  const hasher = new CanonicalHasher(true);
  hasher.value(v);
  return hasher.bytes();
}

/** FNV-1a 32 of a byte string. */
export function fnv1a32(bytes: Uint8Array, seed = FNV_OFFSET): number {
  let h = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, FNV_PRIME) >>> 0;
  return h;
}

/** FNV-1a 32 of the canonical encoding of `v`, without building the bytes. */
export function canonicalHash(v: unknown): number {
  const hasher = new CanonicalHasher();
  hasher.value(v);
  return hasher.hash;
}

/** A 32-bit hash as 8 lower-case hex digits. */
export function hashHex(h: number): string {
  return (h >>> 0).toString(16).padStart(8, '0');
}
