/**
 * etcdctl 3.4 dials its per-endpoint maintenance calls (`endpoint status`, `hashkv`, `defrag`,
 * `alarm`) with grpc-go target `passthrough:///http://host:port`, so their `:authority` is
 * `http://host:port`. Go's server takes that; nghttp2 (under node:http2) resets every such stream
 * with PROTOCOL_ERROR before JavaScript sees it, and node offers no switch for that check.
 *
 * So the client port looks at a connection's first request before handing it to node:http2:
 *
 * 1. After the client preface the port sends an empty SETTINGS frame itself. gRPC clients (grpc-go,
 *    grpc-js) send no request before the server's SETTINGS; an empty one changes no setting, and
 *    node's own SETTINGS follows once it owns the socket. The client's ACK of ours is cut out of
 *    the bytes node gets (nghttp2 would take an ACK it did not ask for as a protocol error).
 * 2. `H2Sniffer` reads frames until it has seen both that ACK and the first complete header block,
 *    and decodes the block with a fresh HPACK decoder (it is the connection's first block).
 * 3. A plain authority (every client but etcdctl's maintenance dials): node gets the raw socket
 *    with the bytes replayed, so the hot path runs natively as before. An authority with a scheme:
 *    node gets a Duplex whose client-to-server bytes go through `AuthorityRewriter`, which
 *    re-encodes every header block with the scheme stripped. Those are short maintenance dials.
 *
 * Everything is bounded; anything malformed or undecidable falls back to the raw hand-over, so
 * nghttp2 answers it as it always did.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { assert } from '../../base/index.js';
import type { Logger } from '../../base/index.js';
import { HpackDecoder, HpackError, encodeHeaderBlock } from './h2-hpack.js';
import type { HeaderField } from './h2-hpack.js';

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** An empty SETTINGS frame: the server preface the port sends on node's behalf. */
export const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

/** HTTP/2's largest SETTINGS_MAX_CONCURRENT_STREAMS, the value node and etcd use by default. */
const STREAMS_UNLIMITED = 0xffff_ffff;
const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;

/**
 * The SETTINGS frame the port sends on node's behalf: empty, or carrying a stream limit below
 * the default, the same one node's own SETTINGS repeats once it owns the socket, so a client
 * knows the limit from its first round trip.
 */
export function serverPrefaceSettings(maxConcurrentStreams: number): Buffer {
  assert(Number.isInteger(maxConcurrentStreams) && maxConcurrentStreams >= 0
    && maxConcurrentStreams <= STREAMS_UNLIMITED, 'a stream limit is a u32');
  if (maxConcurrentStreams === STREAMS_UNLIMITED) return EMPTY_SETTINGS;
  const frame = Buffer.from([0, 0, 6, 4, 0, 0, 0, 0, 0, 0, SETTINGS_MAX_CONCURRENT_STREAMS, 0, 0, 0, 0]);
  frame.writeUInt32BE(maxConcurrentStreams, 11);
  return frame;
}

/** Bytes the sniffer buffers after the preface before giving up and handing the socket over. */
export const MAX_SNIFF_BYTES = 64 * 1024;
/** The largest header block (HEADERS plus CONTINUATIONs) the sniffer or rewriter will assemble. */
export const MAX_HEADER_BLOCK_BYTES = 64 * 1024;
/** SETTINGS_MAX_FRAME_SIZE's initial value; node:http2 keeps it, so no client frame is larger. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
const FRAME_HEADER_BYTES = 9;

const TYPE_HEADERS = 0x1;
const TYPE_SETTINGS = 0x4;
const TYPE_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
const PRIORITY_BYTES = 5;

/** A scheme-prefixed authority, as grpc-go's passthrough target carries it. */
const SCHEME_PREFIX = /^https?:\/\//i;

export function authorityHasScheme(authority: string): boolean {
  return SCHEME_PREFIX.test(authority);
}

/** `http://h:p` -> `h:p`; etcd ignores any path after the host, and so does this. */
export function stripScheme(authority: string): string {
  const rest = authority.replace(SCHEME_PREFIX, '');
  const slash = rest.indexOf('/');
  return slash === -1 ? rest : rest.slice(0, slash);
}

interface FrameHeader {
  readonly length: number;
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
}

function readFrameHeader(b: Uint8Array, at: number): FrameHeader {
  assert(at + FRAME_HEADER_BYTES <= b.length, 'a whole frame header');
  return {
    length: (b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!,
    type: b[at + 3]!,
    flags: b[at + 4]!,
    streamId: ((b[at + 5]! & 0x7f) << 24 | (b[at + 6]! << 16) | (b[at + 7]! << 8) | b[at + 8]!) >>> 0,
  };
}

function frameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  assert(length >= 0 && length < 1 << 24, 'frame length fits 24 bits');
  const h = Buffer.alloc(FRAME_HEADER_BYTES);
  h.writeUIntBE(length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fff_ffff, 5);
  return h;
}

/** A HEADERS frame's fragment and priority bytes, padding removed (RFC 7540 §6.2). */
function headersPayload(h: FrameHeader, payload: Buffer): { priority: Buffer | undefined; fragment: Buffer } {
  let start = 0;
  let end = payload.length;
  if (h.flags & FLAG_PADDED) {
    if (payload.length < 1) throw new HpackError('PADDED HEADERS without a pad length');
    start = 1;
    end -= payload[0]!;
  }
  let priority: Buffer | undefined;
  if (h.flags & FLAG_PRIORITY) {
    priority = payload.subarray(start, start + PRIORITY_BYTES);
    start += PRIORITY_BYTES;
  }
  if (end < start) throw new HpackError('HEADERS padding longer than the frame');
  return { priority, fragment: payload.subarray(start, end) };
}

/** A header block being assembled from HEADERS and CONTINUATION frames. */
interface OpenBlock {
  readonly streamId: number;
  readonly flags: number;
  readonly priority: Buffer | undefined;
  readonly fragments: Buffer[];
  bytes: number;
}

function addFragment(block: OpenBlock, fragment: Buffer): void {
  block.fragments.push(fragment);
  block.bytes += fragment.length;
  if (block.bytes > MAX_HEADER_BLOCK_BYTES) throw new HpackError('header block too large');
}

/** Starts or continues a block; returns the block when END_HEADERS completes it. */
function stepBlock(open: OpenBlock | undefined, h: FrameHeader, payload: Buffer):
  { open: OpenBlock | undefined; complete: OpenBlock | undefined } {
  if (open !== undefined) {
    if (h.type !== TYPE_CONTINUATION || h.streamId !== open.streamId) {
      throw new HpackError('a header block interrupted by another frame');
    }
    addFragment(open, payload);
    return (h.flags & FLAG_END_HEADERS) ? { open: undefined, complete: open } : { open, complete: undefined };
  }
  if (h.type === TYPE_CONTINUATION) throw new HpackError('CONTINUATION without HEADERS');
  assert(h.type === TYPE_HEADERS, 'stepBlock takes header frames');
  const { priority, fragment } = headersPayload(h, payload);
  const block: OpenBlock = { streamId: h.streamId, flags: h.flags, priority, fragments: [], bytes: 0 };
  addFragment(block, fragment);
  return (h.flags & FLAG_END_HEADERS) ? { open: undefined, complete: block } : { open: block, complete: undefined };
}

export type SniffDecision =
  | { readonly kind: 'undecided' }
  /** Hand node the raw socket, replaying `replay` (preface included, our ACK cut out). */
  | { readonly kind: 'plain'; readonly replay: Buffer; readonly why: string }
  /** Relay the connection through an AuthorityRewriter fed `replay` first. */
  | { readonly kind: 'rewrite'; readonly replay: Buffer; readonly authority: string };

/**
 * Reads the client side of a new HTTP/2 connection (the 24-byte preface already checked and
 * included) until it can say whether the first request's `:authority` carries a scheme. Pure:
 * bytes in, a decision out.
 */
export class H2Sniffer {
  #buf: Buffer = Buffer.alloc(0);
  /** Frames before this offset (after the preface) are parsed. */
  #parsed = H2_PREFACE.length;
  #ackAt: number | undefined;
  #open: OpenBlock | undefined;
  #authority: string | null | undefined;
  #decided = false;

  /** Whether the client has ACKed our SETTINGS (only then may node have the socket). */
  get acked(): boolean {
    return this.#ackAt !== undefined;
  }

  push(chunk: Buffer): SniffDecision {
    assert(!this.#decided, 'no bytes after the decision');
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    assert(this.#buf.subarray(0, Math.min(this.#buf.length, H2_PREFACE.length))
      .equals(H2_PREFACE.subarray(0, Math.min(this.#buf.length, H2_PREFACE.length))), 'starts with the preface');
    try {
      this.#parse();
    } catch (err) {
      if (!(err instanceof HpackError)) throw err;
      return this.#plain(err.message);
    }
    if (this.#ackAt !== undefined && this.#authority !== undefined) {
      if (this.#authority !== null && authorityHasScheme(this.#authority)) {
        this.#decided = true;
        return { kind: 'rewrite', replay: this.#replay(), authority: this.#authority };
      }
      return this.#plain('plain authority');
    }
    if (this.#buf.length - H2_PREFACE.length > MAX_SNIFF_BYTES) return this.#plain('too many bytes before the first request');
    return { kind: 'undecided' };
  }

  /** Gives up waiting (a client that idles before its first request). */
  giveUp(why: string): SniffDecision {
    assert(!this.#decided, 'decides once');
    return this.#plain(why);
  }

  #plain(why: string): SniffDecision {
    this.#decided = true;
    return { kind: 'plain', replay: this.#replay(), why };
  }

  #replay(): Buffer {
    if (this.#ackAt === undefined) return this.#buf;
    return Buffer.concat([this.#buf.subarray(0, this.#ackAt), this.#buf.subarray(this.#ackAt + FRAME_HEADER_BYTES)]);
  }

  #parse(): void {
    while (this.#authority === undefined || this.#ackAt === undefined) {
      if (this.#buf.length - this.#parsed < FRAME_HEADER_BYTES) return;
      const h = readFrameHeader(this.#buf, this.#parsed);
      if (h.length > DEFAULT_MAX_FRAME_SIZE) throw new HpackError('frame larger than the max frame size');
      const end = this.#parsed + FRAME_HEADER_BYTES + h.length;
      if (this.#buf.length < end) return;
      const at = this.#parsed;
      const payload = this.#buf.subarray(at + FRAME_HEADER_BYTES, end);
      this.#parsed = end;
      if (h.type === TYPE_SETTINGS && (h.flags & FLAG_ACK) && this.#ackAt === undefined) {
        if (h.length !== 0 || h.streamId !== 0) throw new HpackError('malformed SETTINGS ACK');
        this.#ackAt = at;
        continue;
      }
      if (this.#authority !== undefined) continue;
      if (this.#open === undefined && h.type !== TYPE_HEADERS && h.type !== TYPE_CONTINUATION) continue;
      const { open, complete } = stepBlock(this.#open, h, payload);
      this.#open = open;
      if (complete !== undefined) {
        const fields = new HpackDecoder().decode(Buffer.concat(complete.fragments));
        this.#authority = fields.find((f) => f.name === ':authority')?.value ?? null;
      }
    }
  }
}

/** What a header block's fields become: the scheme cut from `:authority`, all else as it was. */
export function rewriteAuthority(fields: readonly HeaderField[]): HeaderField[] {
  return fields.map((f) => f.name === ':authority' && authorityHasScheme(f.value)
    ? { ...f, value: stripScheme(f.value) } : f);
}

/**
 * The client-to-server half of a relayed connection: passes the preface and every frame through
 * unchanged except header blocks, which it decodes (tracking the client's dynamic table),
 * rewrites with `rewriteAuthority` and re-encodes without indexing, framed within the server's
 * max frame size (padding dropped, priority kept). Pure: bytes in, bytes out.
 *
 * If the client sends something it cannot parse, it stops rewriting and passes every byte from
 * there on unchanged: nghttp2 then judges them as it would have.
 */
export class AuthorityRewriter {
  readonly #decoder = new HpackDecoder();
  readonly #maxFrameSize: number;
  #pending: Buffer = Buffer.alloc(0);
  #prefaceLeft = H2_PREFACE.length;
  #open: OpenBlock | undefined;
  #passthrough = false;
  /** Raw frames of the open block, kept for the passthrough fallback (within the block bound). */
  #heldRaw: Buffer[] = [];
  /** Header blocks rewritten so far. */
  blocks = 0;

  constructor(maxFrameSize = DEFAULT_MAX_FRAME_SIZE) {
    assert(maxFrameSize >= DEFAULT_MAX_FRAME_SIZE && maxFrameSize < 1 << 24, 'maxFrameSize is a legal SETTINGS value');
    this.#maxFrameSize = maxFrameSize;
  }

  get passthrough(): boolean {
    return this.#passthrough;
  }

  /** Consumes client bytes; returns the bytes to give the server (possibly none yet). */
  push(chunk: Buffer): Buffer[] {
    if (this.#passthrough) return [chunk];
    const out: Buffer[] = [];
    let buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    if (this.#prefaceLeft > 0) {
      const n = Math.min(this.#prefaceLeft, buf.length);
      out.push(buf.subarray(0, n));
      this.#prefaceLeft -= n;
      buf = buf.subarray(n);
    }
    let at = 0;
    try {
      while (buf.length - at >= FRAME_HEADER_BYTES) {
        const h = readFrameHeader(buf, at);
        if (h.length > this.#maxFrameSize) throw new HpackError('frame larger than the max frame size');
        const end = at + FRAME_HEADER_BYTES + h.length;
        if (buf.length < end) break;
        const raw = buf.subarray(at, end);
        if (this.#open !== undefined || h.type === TYPE_HEADERS || h.type === TYPE_CONTINUATION) {
          const { open, complete } = stepBlock(this.#open, h, raw.subarray(FRAME_HEADER_BYTES));
          if (complete !== undefined) {
            out.push(...this.#reframe(complete));
            this.#heldRaw = [];
          } else {
            // Copied: `buf` may be a chunk the socket reuses.
            this.#heldRaw.push(Buffer.from(raw));
          }
          this.#open = open;
        } else {
          out.push(raw);
        }
        at = end;
      }
    } catch (err) {
      if (!(err instanceof HpackError)) throw err;
      // Everything not yet given to the server goes as it came, and so does all that follows.
      this.#passthrough = true;
      out.push(...this.#heldRaw, buf.subarray(at));
      this.#heldRaw = [];
      this.#open = undefined;
      this.#pending = Buffer.alloc(0);
      return out;
    }
    this.#pending = Buffer.from(buf.subarray(at));
    return out;
  }

  #reframe(block: OpenBlock): Buffer[] {
    const fields = rewriteAuthority(this.#decoder.decode(Buffer.concat(block.fragments)));
    this.blocks++;
    const encoded = encodeHeaderBlock(fields);
    const prefix = block.priority ?? Buffer.alloc(0);
    const out: Buffer[] = [];
    const firstRoom = this.#maxFrameSize - prefix.length;
    const first = encoded.subarray(0, firstRoom);
    let rest = encoded.subarray(first.length);
    const firstFlags = (block.flags & (FLAG_END_STREAM | FLAG_PRIORITY)) | (rest.length === 0 ? FLAG_END_HEADERS : 0);
    out.push(frameHeader(prefix.length + first.length, TYPE_HEADERS, firstFlags, block.streamId), prefix, first);
    while (rest.length > 0) {
      const piece = rest.subarray(0, this.#maxFrameSize);
      rest = rest.subarray(piece.length);
      out.push(frameHeader(piece.length, TYPE_CONTINUATION, rest.length === 0 ? FLAG_END_HEADERS : 0, block.streamId), piece);
    }
    return out;
  }
}

// ---- the socket side ------------------------------------------------------------------------

/**
 * After the client's SETTINGS ACK, how long a connection may stay silent before its first request
 * and still be sniffed; then node gets it raw (an idle pooled connection need not wait for more).
 */
export const H2_FIRST_REQUEST_WAIT_MS = 1_000;

export interface H2HandOverOptions {
  /** Gives node:http2 the connection: the raw socket, or a relay for scheme authorities. */
  readonly accept: (stream: Duplex) => void;
  readonly logger: Logger;
  readonly firstRequestWaitMs?: number;
  /** The server's first SETTINGS frame (serverPrefaceSettings); EMPTY_SETTINGS by default. */
  readonly settings?: Buffer;
}

/**
 * Takes over a paused socket whose first bytes (`head`, already read) match the HTTP/2 preface:
 * sends the server's first SETTINGS, sniffs, and calls `accept` exactly once unless the socket closes
 * first. The caller's own timeout still bounds the whole wait (a client that never ACKs).
 */
export function handOverH2(socket: Socket, head: Buffer, options: H2HandOverOptions): void {
  const sniffer = new H2Sniffer();
  const waitMs = options.firstRequestWaitMs ?? H2_FIRST_REQUEST_WAIT_MS;
  assert(waitMs > 0, 'firstRequestWaitMs must be positive');
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  const stop = (): void => {
    settled = true;
    if (timer !== undefined) clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', stop);
  };
  const finish = (d: SniffDecision): void => {
    if (d.kind === 'undecided') {
      if (sniffer.acked && timer === undefined) {
        timer = setTimeout(() => finish(sniffer.giveUp('no request yet')), waitMs);
        timer.unref();
      }
      return;
    }
    stop();
    socket.pause();
    if (d.kind === 'plain') {
      socket.unshift(d.replay);
      options.accept(socket);
      return;
    }
    options.logger.debug('h2 authority with a scheme: relaying the connection', { authority: d.authority });
    const relay = new AuthorityRelay(socket, options.logger);
    relay.feed(d.replay);
    options.accept(relay);
    socket.resume();
  };
  const onData = (chunk: Buffer): void => {
    // Malformed input is a decision (`plain`); only a bug throws. It costs this connection, not the server.
    try {
      finish(sniffer.push(chunk));
    } catch (err) {
      options.logger.error('h2 sniff failed', { err: String(err) });
      stop();
      socket.destroy();
    }
  };
  socket.on('data', onData);
  socket.on('close', stop);
  socket.write(options.settings ?? EMPTY_SETTINGS);
  onData(head);
  if (!settled) socket.resume();
}

/**
 * A Duplex standing in for the socket of a relayed connection: client bytes go through an
 * AuthorityRewriter on their way to node:http2, server bytes go to the socket untouched.
 */
class AuthorityRelay extends Duplex {
  readonly #socket: Socket;
  readonly #rewriter = new AuthorityRewriter();
  readonly #logger: Logger;

  constructor(socket: Socket, logger: Logger) {
    super();
    this.#socket = socket;
    this.#logger = logger;
    socket.on('data', (chunk: Buffer) => this.feed(chunk));
    socket.on('end', () => this.push(null));
    // The port logs the socket's error; the relay just goes away with it.
    socket.on('close', () => this.destroy());
  }

  /** Socket methods a connection listener may call (GrpcServer sets no-delay). */
  setNoDelay(noDelay?: boolean): this {
    this.#socket.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.#socket.setKeepAlive(enable, initialDelay);
    return this;
  }

  feed(chunk: Buffer): void {
    let out: Buffer[];
    try {
      out = this.#rewriter.push(chunk);
    } catch (err) {
      // Malformed input turns the rewriter into a passthrough; only a bug throws.
      this.#logger.error('h2 authority relay failed', { err: String(err) });
      this.destroy();
      return;
    }
    let full = false;
    for (const b of out) if (b.length > 0) full = !this.push(b) || full;
    if (full) this.#socket.pause();
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.#socket.write(chunk)) callback();
    else this.#socket.once('drain', () => callback());
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#socket.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#socket.destroy();
    callback(err);
  }
}
