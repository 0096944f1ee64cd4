/**
 * HPACK (RFC 7541), just enough to read a client's header blocks and write them back: a decoder
 * that keeps the client's dynamic table in step, and an encoder that never touches the peer's
 * dynamic table (only static indexes and literals "without indexing"), so a relay can rewrite a
 * block without the receiver's table ever drifting from what the sender believes.
 *
 * Names and values are latin1 strings: one char per octet, so a block re-encodes byte for byte
 * and table sizes count octets as §4.1 says.
 */
import { assert } from '../../base/index.js';
import { HUFFMAN_CODES, HUFFMAN_EOS_LENGTH, HUFFMAN_LENGTHS, STATIC_TABLE } from './h2-hpack-tables.js';

/** The largest dynamic table a client may ask for with a size update (node announces 4096). */
export const MAX_HPACK_TABLE_SIZE = 65_536;
/** HPACK integers above this are treated as malformed (no header block is near it). */
const MAX_HPACK_INTEGER = 0x7fff_ffff;
/** The initial SETTINGS_HEADER_TABLE_SIZE (RFC 7540 §6.5.2). */
export const DEFAULT_HPACK_TABLE_SIZE = 4096;

export interface HeaderField {
  readonly name: string;
  readonly value: string;
  /** Sent as "never indexed" (§6.2.3): a relay must keep it that way. */
  readonly sensitive: boolean;
}

export class HpackError extends Error {
  constructor(message: string) {
    super(`hpack: ${message}`);
    this.name = 'HpackError';
  }
}

// ---- Huffman --------------------------------------------------------------------------------

/** A tree slot holding no child yet. */
const NO_CHILD = 0;
/** A binary tree over the code bits: node i has children at 2i (bit 0) and 2i+1 (bit 1) slots. */
const HUFFMAN_TREE: Int32Array = buildHuffmanTree();
/** Leaves store -(symbol + 1). */
function buildHuffmanTree(): Int32Array {
  // 257 leaves need 256 inner nodes; two child slots each.
  const tree = new Int32Array(2 * 257);
  let nodes = 1;
  const add = (code: number, length: number, symbol: number): void => {
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1);
      if (bit === 0) {
        assert(tree[slot] === NO_CHILD, 'huffman codes are prefix-free');
        tree[slot] = -(symbol + 1);
        return;
      }
      let child = tree[slot]!;
      assert(child >= 0, 'huffman codes are prefix-free');
      if (child === NO_CHILD) {
        child = nodes++;
        assert(2 * child + 1 < tree.length, 'huffman tree fits');
        tree[slot] = child;
      }
      node = child;
    }
  };
  for (let s = 0; s < 256; s++) add(HUFFMAN_CODES[s]!, HUFFMAN_LENGTHS[s]!, s);
  add(0x3fff_ffff, HUFFMAN_EOS_LENGTH, 256);
  assert(nodes === 256, 'a complete code over 257 symbols has 256 inner nodes');
  return tree;
}

/** Decodes a Huffman string (§5.2): EOS inside, or padding that is not a 1-bit EOS prefix of at most 7 bits, is an error. */
export function huffmanDecode(bytes: Uint8Array): string {
  let out = '';
  let node = 0;
  let depth = 0;
  let allOnes = true;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >>> bit) & 1;
      const next = HUFFMAN_TREE[2 * node + b]!;
      depth++;
      allOnes &&= b === 1;
      if (next < 0) {
        const symbol = -next - 1;
        if (symbol === 256) throw new HpackError('EOS in a huffman string');
        out += String.fromCharCode(symbol);
        node = 0;
        depth = 0;
        allOnes = true;
      } else {
        node = next;
      }
    }
  }
  if (depth > 7) throw new HpackError('huffman padding longer than 7 bits');
  if (!allOnes) throw new HpackError('huffman padding is not all ones');
  return out;
}

/** Huffman-encodes a latin1 string (§5.2), padding the last octet with 1 bits. */
export function huffmanEncode(text: string): Buffer {
  const bytes: number[] = [];
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    assert(c < 256, 'huffmanEncode takes latin1');
    const length = HUFFMAN_LENGTHS[c]!;
    const code = HUFFMAN_CODES[c]!;
    // Feed the code in pieces of at most 8 bits so `acc` stays small.
    for (let left = length; left > 0;) {
      const take = Math.min(left, 8);
      left -= take;
      acc = (acc << take) | ((code >>> left) & ((1 << take) - 1));
      bits += take;
      if (bits >= 8) {
        bits -= 8;
        bytes.push((acc >>> bits) & 0xff);
        acc &= (1 << bits) - 1;
      }
    }
  }
  if (bits > 0) bytes.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff);
  return Buffer.from(bytes);
}

/**
 * The decoded size (§4.1: name, value and 32 octets a field) a request's headers may reach: a
 * small block of indexes into a large dynamic-table entry would otherwise decode to megabytes.
 */
export const HEADER_LIST_BYTES_MAX = 256 * 1024;
/** Decoded header blocks one connection keeps (HpackDecoder.decodeHeaders), and their size. */
const BLOCK_CACHE_ENTRIES_MAX = 64;
const BLOCK_CACHE_BYTES_MAX = 512;

/**
 * Huffman strings decoded lately, by their coded octets: some clients (node:http2's nghttp2, so
 * grpc-js and etcd3) never index `:path`, so the same few method paths arrive coded on every
 * request. Cleared when full; only short strings are kept.
 */
const HUFFMAN_CACHE_ENTRIES_MAX = 1_024;
const HUFFMAN_CACHE_STRING_BYTES_MAX = 96;
const huffmanCache = new Map<string, string>();

/** huffmanDecode of `bytes[start, end)`, through the cache for short strings. */
function huffmanDecodeCached(bytes: Buffer, start: number, end: number): string {
  const raw = bytes.subarray(start, end);
  if (raw.length > HUFFMAN_CACHE_STRING_BYTES_MAX) return huffmanDecode(raw);
  const coded = bytes.toString('latin1', start, end);
  let text = huffmanCache.get(coded);
  if (text === undefined) {
    text = huffmanDecode(raw);
    if (huffmanCache.size >= HUFFMAN_CACHE_ENTRIES_MAX) huffmanCache.clear();
    huffmanCache.set(coded, text);
  }
  return text;
}

// ---- primitives -----------------------------------------------------------------------------

class Reader {
  #offset = 0;
  /** The same bytes as a Buffer, for latin1 slices without a copy. */
  readonly #text: Buffer;
  constructor(readonly bytes: Uint8Array) {
    this.#text = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  get done(): boolean {
    return this.#offset >= this.bytes.length;
  }

  peek(): number {
    const b = this.bytes[this.#offset];
    if (b === undefined) throw new HpackError('header block truncated');
    return b;
  }

  /** §5.1: an integer with an N-bit prefix. */
  integer(prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let value = this.#byte() & max;
    if (value < max) return value;
    for (let shift = 0; ; shift += 7) {
      const b = this.#byte();
      value += (b & 0x7f) * 2 ** shift;
      if (value > MAX_HPACK_INTEGER) throw new HpackError('integer too large');
      if ((b & 0x80) === 0) return value;
    }
  }

  /** §5.2: a string literal, Huffman-coded or raw. */
  string(): string {
    const huffman = (this.peek() & 0x80) !== 0;
    const length = this.integer(7);
    if (length > this.bytes.length - this.#offset) throw new HpackError('string longer than the block');
    const start = this.#offset;
    this.#offset += length;
    return huffman ? huffmanDecodeCached(this.#text, start, this.#offset)
      : this.#text.toString('latin1', start, this.#offset);
  }

  #byte(): number {
    const b = this.peek();
    this.#offset++;
    return b;
  }
}

function writeInteger(out: number[], firstBits: number, prefixBits: number, value: number): void {
  assert(Number.isInteger(value) && value >= 0 && value <= MAX_HPACK_INTEGER, 'hpack integer in range');
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(firstBits | value);
    return;
  }
  out.push(firstBits | max);
  let rest = value - max;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

function writeString(out: number[], text: string): void {
  writeInteger(out, 0x00, 7, text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    assert(c < 256, 'header text is latin1');
    out.push(c);
  }
}

const STATIC_FULL = new Map<string, number>();
const STATIC_NAME = new Map<string, number>();
STATIC_TABLE.forEach(([name, value], i) => {
  if (!STATIC_FULL.has(`${name}\0${value}`)) STATIC_FULL.set(`${name}\0${value}`, i + 1);
  if (!STATIC_NAME.has(name)) STATIC_NAME.set(name, i + 1);
});

// ---- decoder --------------------------------------------------------------------------------

/** The per-entry overhead of §4.1. */
const ENTRY_OVERHEAD = 32;

/**
 * One direction's HPACK decoding context: feed it every header block of that direction, in
 * order, and its dynamic table follows the encoder's. After an error the context is unusable
 * (RFC 7540 treats that as a connection error).
 */
export class HpackDecoder {
  /** Newest first, as §2.3.3 indexes them. */
  readonly #table: [string, string][] = [];
  #size = 0;
  #maxSize: number;
  /** Bumped by every change to the dynamic table; decoded blocks are cached between changes. */
  #tableChanges = 0;
  readonly #blocks = new Map<string, Readonly<Record<string, string>>>();

  constructor(maxSize = DEFAULT_HPACK_TABLE_SIZE) {
    assert(maxSize >= 0 && maxSize <= MAX_HPACK_TABLE_SIZE, 'hpack table size in range');
    this.#maxSize = maxSize;
  }

  /** Entries in the dynamic table (for tests and assertions). */
  get tableLength(): number {
    return this.#table.length;
  }

  decode(block: Uint8Array): HeaderField[] {
    const fields: HeaderField[] = [];
    this.#decodeEach(block, (name, value, sensitive) => { fields.push({ name, value, sensitive }); });
    return fields;
  }

  /**
   * Decodes a request's block into a frozen object with a null prototype, as node:http2 gives
   * headers: a repeated name's values joined with ", ". A client repeating a request sends the
   * same bytes, and while the dynamic table stays as it was they mean the same headers: such
   * blocks are answered from a cache (cleared whenever the table changes).
   */
  decodeHeaders(block: Buffer, listBytesMax = HEADER_LIST_BYTES_MAX): Readonly<Record<string, string>> {
    const key = block.length <= BLOCK_CACHE_BYTES_MAX ? block.toString('latin1') : undefined;
    if (key !== undefined) {
      const hit = this.#blocks.get(key);
      if (hit !== undefined) return hit;
    }
    const changes = this.#tableChanges;
    const headers = Object.create(null) as Record<string, string>;
    let listBytes = 0;
    this.#decodeEach(block, (name, value) => {
      // §4.1's size per field: a few bytes of indexes can name a large table entry many times.
      listBytes += name.length + value.length + ENTRY_OVERHEAD;
      if (listBytes > listBytesMax) throw new HpackError(`header list over ${listBytesMax} bytes`);
      const prior = headers[name];
      headers[name] = prior === undefined ? value : `${prior}, ${value}`;
    });
    Object.freeze(headers);
    if (this.#tableChanges !== changes) {
      this.#blocks.clear();
    } else if (key !== undefined) {
      if (this.#blocks.size >= BLOCK_CACHE_ENTRIES_MAX) this.#blocks.clear();
      this.#blocks.set(key, headers);
    }
    return headers;
  }

  #decodeEach(block: Uint8Array, onField: (name: string, value: string, sensitive: boolean) => void):
    void {
    const r = new Reader(block);
    let count = 0;
    while (!r.done) {
      const b = r.peek();
      if (b & 0x80) {
        const [name, value] = this.#entry(r.integer(7));
        onField(name, value, false);
        count++;
      } else if (b & 0x40) {
        const name = this.#literalName(r, 6);
        const value = r.string();
        onField(name, value, false);
        count++;
        this.#add(name, value);
      } else if (b & 0x20) {
        // §4.2: a size update only at the start of a block.
        if (count > 0) throw new HpackError('table size update after a header field');
        const size = r.integer(5);
        if (size > MAX_HPACK_TABLE_SIZE) throw new HpackError(`table size ${size} too large`);
        this.#maxSize = size;
        this.#tableChanges++;
        this.#evict(0);
      } else {
        const name = this.#literalName(r, 4);
        onField(name, r.string(), (b & 0x10) !== 0);
        count++;
      }
    }
  }

  #literalName(r: Reader, prefixBits: number): string {
    const index = r.integer(prefixBits);
    return index === 0 ? r.string() : this.#entry(index)[0];
  }

  #entry(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError('index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
    const entry = this.#table[index - STATIC_TABLE.length - 1];
    if (entry === undefined) throw new HpackError(`index ${index} beyond the table`);
    return entry;
  }

  #add(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    // §4.4: an entry larger than the table empties it and is not added.
    this.#tableChanges++;
    this.#evict(size);
    if (size > this.#maxSize) return;
    this.#table.unshift([name, value]);
    this.#size += size;
    assert(this.#size <= this.#maxSize, 'dynamic table within its size');
  }

  /** Evicts the oldest entries until `room` more octets fit. */
  #evict(room: number): void {
    while (this.#table.length > 0 && this.#size + room > this.#maxSize) {
      const [name, value] = this.#table.pop()!;
      this.#size -= name.length + value.length + ENTRY_OVERHEAD;
    }
    assert(this.#size >= 0, 'dynamic table size never negative');
  }
}

// ---- encoder --------------------------------------------------------------------------------

/**
 * Encodes fields without ever adding to the receiver's dynamic table: a field equal to a static
 * entry as its index, everything else as a raw literal "without indexing" (or "never indexed"
 * when it came that way), naming a static entry where one has the name.
 */
export function encodeHeaderBlock(fields: readonly HeaderField[]): Buffer {
  const out: number[] = [];
  for (const f of fields) {
    const full = f.sensitive ? undefined : STATIC_FULL.get(`${f.name}\0${f.value}`);
    if (full !== undefined) {
      writeInteger(out, 0x80, 7, full);
      continue;
    }
    const nameIndex = STATIC_NAME.get(f.name);
    writeInteger(out, f.sensitive ? 0x10 : 0x00, 4, nameIndex ?? 0);
    if (nameIndex === undefined) writeString(out, f.name);
    writeString(out, f.value);
  }
  return Buffer.from(out);
}
