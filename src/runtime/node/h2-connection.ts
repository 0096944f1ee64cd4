/**
 * The server side of an HTTP/2 connection (RFC 9113), just what gRPC needs, written for the cost
 * of a call. node:http2 spent more CPU per unary call than the whole gRPC layer above it
 * (nghttp2's callbacks into JavaScript, a Duplex per stream, trailers through setImmediate); here a
 * call is a plain object, a unary answer is one HEADERS + DATA + HEADERS run in one buffer, with
 * pre-encoded header blocks, and every frame a turn of the event loop produces leaves in one
 * socket write.
 *
 * What it does:
 * - the preface, SETTINGS both ways (with ACK), PING answers and keepalive pings of its own,
 *   GOAWAY, RST_STREAM both ways, PRIORITY (ignored), padding, CONTINUATION;
 * - HPACK decoding with the client's dynamic table (h2-hpack.ts); responses never index, so the
 *   client's table size setting never matters;
 * - flow control both ways: DATA waits for the client's windows (connection and stream) and frames
 *   stay within its SETTINGS_MAX_FRAME_SIZE; the server grants its own windows back as it
 *   consumes, except for a stream whose reader paused (back-pressure reaches the client);
 * - SETTINGS_MAX_CONCURRENT_STREAMS: streams over it are refused (REFUSED_STREAM);
 * - any :authority, including etcdctl 3.4's `http://host:port` (nghttp2 refused those).
 *
 * Errors follow the RFC: a connection error sends GOAWAY with its code and closes; a stream error
 * resets that stream and the connection goes on. Everything buffered has a named maximum.
 */
import type { Socket } from 'node:net';
import { assert } from '../../base/index.js';
import type { Logger } from '../../base/index.js';
import { HpackDecoder, HpackError } from './h2-hpack.js';

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

const FRAME_HEADER_BYTES = 9;
const TYPE_DATA = 0x0;
const TYPE_HEADERS = 0x1;
const TYPE_PRIORITY = 0x2;
const TYPE_RST_STREAM = 0x3;
const TYPE_SETTINGS = 0x4;
const TYPE_PUSH_PROMISE = 0x5;
const TYPE_PING = 0x6;
const TYPE_GOAWAY = 0x7;
const TYPE_WINDOW_UPDATE = 0x8;
const TYPE_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
const PRIORITY_BYTES = 5;

/** HTTP/2 error codes (RFC 9113 §7). */
export const H2Code = {
  NO_ERROR: 0x0, PROTOCOL_ERROR: 0x1, INTERNAL_ERROR: 0x2, FLOW_CONTROL_ERROR: 0x3,
  STREAM_CLOSED: 0x5, FRAME_SIZE_ERROR: 0x6, REFUSED_STREAM: 0x7, CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9, ENHANCE_YOUR_CALM: 0xb,
} as const;

const SETTINGS_HEADER_TABLE_SIZE = 0x1;
const SETTINGS_ENABLE_PUSH = 0x2;
const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const SETTINGS_MAX_FRAME_SIZE = 0x5;

/** The RFC's initial window and frame size, and the largest of each. */
const DEFAULT_WINDOW = 65_535;
const WINDOW_MAX = 0x7fff_ffff;
const DEFAULT_MAX_FRAME_SIZE = 16_384;
const MAX_FRAME_SIZE_LIMIT = 0xff_ffff;
/** HTTP/2's largest SETTINGS_MAX_CONCURRENT_STREAMS, etcd's default (math.MaxUint32). */
export const STREAMS_UNLIMITED = 0xffff_ffff;

/** What one stream may receive before the server grants more (what node:http2 was given). */
export const STREAM_RECEIVE_WINDOW = 1 << 20;
/** What the whole connection may receive before the server grants more. */
export const CONNECTION_RECEIVE_WINDOW = 8 << 20;
/** The largest header block (HEADERS plus CONTINUATIONs) a client may send. */
export const HEADER_BLOCK_BYTES_MAX = 64 * 1024;
/**
 * Bytes written to the socket but not yet taken by the kernel beyond which the connection stops
 * reading: a client that sends (pings, requests) without reading its answers is stopped by TCP.
 */
export const SOCKET_BUFFER_BYTES_MAX = 4 << 20;
/** A stream's queued response bytes beyond which `write` says "wait for drained()". */
export const STREAM_HIGH_WATER_BYTES = 64 * 1024;
/** Unsent socket bytes beyond which every stream's `write` says "wait for drained()". */
export const SOCKET_HIGH_WATER_BYTES = 1 << 20;
/** Concurrent streams one connection may hold whatever the setting (memory is per stream). */
export const STREAMS_OPEN_MAX = 1 << 20;
/** Resets of live streams a client may send per second, in bursts of as many (see #onRstStream). */
export const RESETS_PER_SECOND_MAX = 1_000;
/** After GOAWAY on close, how long the client has to read it before the socket is destroyed. */
const CLOSE_GRACE_MS = 1_000;

/** Request headers: lower-case names, repeated ones joined with ", " (as node:http2 gives them). */
export type H2Headers = Readonly<Record<string, string>>;

/** The receiving side of a stream, set by the connection's owner in `onStream`. */
export interface H2StreamSink {
  /** A DATA payload, a view of the socket's bytes (never reused by node). */
  onData(data: Buffer): void;
  /** The client half-closed: no more data. */
  onEnd(): void;
  /** The stream ended before the server ended it: client reset or connection gone. */
  onClose(): void;
}

export interface H2ConnectionOptions {
  readonly logger: Logger;
  /** SETTINGS_MAX_CONCURRENT_STREAMS announced and enforced. */
  readonly maxConcurrentStreams: number;
  /** Ping a connection without new streams for this long... */
  readonly keepaliveTimeMs: number;
  /** ...and close it when the ping is not answered within this. */
  readonly keepaliveTimeoutMs: number;
  /** A new stream, its headers complete; set `stream.sink` to receive its data. */
  readonly onStream: (stream: H2Stream) => void;
  readonly onClose: (connection: H2Connection) => void;
}

/** A header block being assembled from HEADERS and CONTINUATION frames. */
interface OpenBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly fragments: Buffer[];
  bytes: number;
}

class ConnectionError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

export class H2Connection {
  readonly #socket: Socket;
  readonly #options: H2ConnectionOptions;
  readonly #decoder = new HpackDecoder();
  readonly #streams = new Map<number, H2Stream>();
  /** Streams with data waiting for window, in the order they blocked. */
  readonly #blocked = new Set<H2Stream>();
  /** Streams waiting for the socket buffer to drain. */
  readonly #drainWaiters = new Set<H2Stream>();
  #pending: Buffer | undefined = undefined;
  #prefaceSeen = false;
  #open: OpenBlock | undefined = undefined;
  #lastStreamId = 0;
  #goingAway = false;
  #closed = false;
  /** The client's settings. */
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  /** What the client still lets the server send on the connection. */
  #sendWindow = DEFAULT_WINDOW;
  /** What the client may still send on the connection, and what it sent since the last grant. */
  #receiveWindow = CONNECTION_RECEIVE_WINDOW;
  #receivedUngranted = 0;
  #out: Buffer[] = [];
  #outBytes = 0;
  #flushQueued = false;
  #readingPaused = false;
  /** Streams started; the keepalive timer compares it between ticks. */
  #activity = 0;
  #keepalive: NodeJS.Timeout | undefined = undefined;
  #pingDeadline: NodeJS.Timeout | undefined = undefined;
  /** Resets of live streams the client may still send now (a token bucket), and when it was filled. */
  #resetBudget = RESETS_PER_SECOND_MAX;
  #resetBudgetAt = performance.now();

  constructor(socket: Socket, head: Buffer, options: H2ConnectionOptions) {
    assert(options.maxConcurrentStreams >= 0 && options.maxConcurrentStreams <= STREAMS_UNLIMITED,
      'a stream limit is a u32');
    this.#socket = socket;
    this.#options = options;
    socket.on('data', (chunk: Buffer) => this.#onBytes(chunk));
    socket.on('drain', () => this.#onDrain());
    socket.on('error', (err) => options.logger.debug('h2 socket error', { err: String(err) }));
    socket.on('close', () => this.#destroy());
    this.#sendSettings();
    this.#startKeepalive();
    if (head.length > 0) this.#onBytes(head);
  }

  get peerMaxFrameSize(): number {
    return this.#peerMaxFrameSize;
  }

  /** Server shutdown: GOAWAY, every stream closed, the socket ended. */
  close(): void {
    if (this.#closed) return;
    this.#goAway(H2Code.NO_ERROR, '');
  }

  // ---- reading --------------------------------------------------------------------------------

  #onBytes(chunk: Buffer): void {
    if (this.#closed) return;
    let buf = chunk;
    if (this.#pending !== undefined) {
      buf = Buffer.concat([this.#pending, chunk]);
      this.#pending = undefined;
    }
    let at = 0;
    if (!this.#prefaceSeen) {
      const n = Math.min(buf.length, H2_PREFACE.length);
      if (buf.compare(H2_PREFACE, 0, n, 0, n) !== 0) {
        this.#options.logger.debug('h2: not an HTTP/2 preface');
        this.#socket.destroy();
        return;
      }
      if (buf.length < H2_PREFACE.length) {
        this.#pending = buf;
        return;
      }
      this.#prefaceSeen = true;
      at = H2_PREFACE.length;
    }
    try {
      while (buf.length - at >= FRAME_HEADER_BYTES) {
        const length = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
        if (length > DEFAULT_MAX_FRAME_SIZE) {
          throw new ConnectionError(H2Code.FRAME_SIZE_ERROR, `frame of ${length} bytes`);
        }
        const end = at + FRAME_HEADER_BYTES + length;
        if (end > buf.length) break;
        const type = buf[at + 3]!;
        const flags = buf[at + 4]!;
        const id = buf.readUInt32BE(at + 5) & 0x7fff_ffff;
        const payload = buf.subarray(at + FRAME_HEADER_BYTES, end);
        at = end;
        this.#onFrame(type, flags, id, payload);
        if (this.#closed) return;
      }
    } catch (err) {
      if (err instanceof ConnectionError) {
        this.#options.logger.debug('h2 connection error', { code: err.code, err: err.message });
        this.#goAway(err.code, err.message);
      } else {
        // A bug above the transport: this connection ends, the server goes on.
        this.#options.logger.error('h2 connection failed', {
          err: err instanceof Error ? err.stack ?? err.message : String(err) });
        this.#goAway(H2Code.INTERNAL_ERROR, 'internal error');
      }
      return;
    }
    if (at < buf.length) this.#pending = at === 0 ? buf : Buffer.from(buf.subarray(at));
  }

  #onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.#open !== undefined && type !== TYPE_CONTINUATION) {
      throw new ConnectionError(H2Code.PROTOCOL_ERROR, 'a header block interrupted by another frame');
    }
    switch (type) {
      case TYPE_DATA: return this.#onDataFrame(flags, id, payload);
      case TYPE_HEADERS: return this.#onHeadersFrame(flags, id, payload);
      case TYPE_CONTINUATION: return this.#onContinuation(flags, id, payload);
      case TYPE_PRIORITY:
        if (id === 0) throw new ConnectionError(H2Code.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== PRIORITY_BYTES) this.resetStream(id, H2Code.FRAME_SIZE_ERROR);
        return;
      case TYPE_RST_STREAM: return this.#onRstStream(id, payload);
      case TYPE_SETTINGS: return this.#onSettings(flags, id, payload);
      case TYPE_PUSH_PROMISE:
        throw new ConnectionError(H2Code.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      case TYPE_PING: return this.#onPing(flags, id, payload);
      case TYPE_GOAWAY:
        if (id !== 0) throw new ConnectionError(H2Code.PROTOCOL_ERROR, 'GOAWAY on a stream');
        // The client opens no more streams; those open finish as they would.
        return;
      case TYPE_WINDOW_UPDATE: return this.#onWindowUpdate(id, payload);
      default:
        // Unknown frame types are ignored (RFC 9113 §4.1).
        return;
    }
  }

  #onDataFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(H2Code.PROTOCOL_ERROR, 'DATA on stream 0');
    // Flow control counts the whole payload, padding included, whatever the stream's state.
    if (payload.length > this.#receiveWindow) {
      throw new ConnectionError(H2Code.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    }
    this.#receiveWindow -= payload.length;
    this.#receivedUngranted += payload.length;
    if (this.#receivedUngranted >= CONNECTION_RECEIVE_WINDOW / 2) {
      this.windowUpdate(0, this.#receivedUngranted);
      this.#receiveWindow += this.#receivedUngranted;
      this.#receivedUngranted = 0;
    }
    const stream = this.#streams.get(id);
    if (stream === undefined) {
      if (id > this.#lastStreamId) {
        throw new ConnectionError(H2Code.PROTOCOL_ERROR, 'DATA on an idle stream');
      }
      // A stream closed here (answered, or reset): what the client sent before it knew is dropped.
      return;
    }
    let data = payload;
    if (flags & FLAG_PADDED) {
      const pad = payload[0];
      if (pad === undefined || pad >= payload.length) {
        throw new ConnectionError(H2Code.PROTOCOL_ERROR, 'DATA padding longer than the frame');
      }
      data = payload.subarray(1, payload.length - pad);
    }
    stream.received(data, payload.length, (flags & FLAG_END_STREAM) !== 0);
  }

  #onHeadersFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0 || id % 2 === 0) {
      throw new ConnectionError(H2Code.PROTOCOL_ERROR, `HEADERS on stream ${id}`);
    }
    let start = 0;
    let end = payload.length;
    if (flags & FLAG_PADDED) {
      start = 1;
      end -= payload[0] ?? 0;
    }
    if (flags & FLAG_PRIORITY) start += PRIORITY_BYTES;
    if (end < start) {
      throw new ConnectionError(H2Code.PROTOCOL_ERROR, 'HEADERS padding longer than the frame');
    }
    const fragment = payload.subarray(start, end);
    const endStream = (flags & FLAG_END_STREAM) !== 0;
    if (flags & FLAG_END_HEADERS) {
      this.#onHeaderBlock(id, endStream, fragment);
      return;
    }
    this.#open = { streamId: id, endStream, fragments: [Buffer.from(fragment)], bytes: fragment.length };
  }

  #onContinuation(flags: number, id: number, payload: Buffer): void {
    const open = this.#open;
    if (open === undefined || open.streamId !== id) {
      throw new ConnectionError(H2Code.PROTOCOL_ERROR, 'CONTINUATION without its HEADERS');
    }
    open.bytes += payload.length;
    if (open.bytes > HEADER_BLOCK_BYTES_MAX) {
      throw new ConnectionError(H2Code.ENHANCE_YOUR_CALM,
        `header block over ${HEADER_BLOCK_BYTES_MAX} bytes`);
    }
    open.fragments.push(Buffer.from(payload));
    if (flags & FLAG_END_HEADERS) {
      this.#open = undefined;
      this.#onHeaderBlock(id, open.endStream, Buffer.concat(open.fragments, open.bytes));
    }
  }

  #onHeaderBlock(id: number, endStream: boolean, block: Buffer): void {
    // Decoded whatever becomes of the stream: the client's table moves with every block.
    let headers: H2Headers;
    try {
      headers = this.#decoder.decodeHeaders(block);
    } catch (err) {
      if (!(err instanceof HpackError)) throw err;
      throw new ConnectionError(H2Code.COMPRESSION_ERROR, err.message);
    }
    const existing = this.#streams.get(id);
    if (existing !== undefined) {
      // Trailers: they must end the stream; gRPC clients send none, and they carry nothing here.
      if (!endStream) {
        this.resetStream(id, H2Code.PROTOCOL_ERROR);
        existing.closedByPeer();
        return;
      }
      existing.received(EMPTY, 0, true);
      return;
    }
    if (id <= this.#lastStreamId) {
      // A stream already closed here; RFC 9113 allows treating it as a stream error.
      this.resetStream(id, H2Code.STREAM_CLOSED);
      return;
    }
    this.#lastStreamId = id;
    if (this.#goingAway) return;
    if (this.#streams.size >= this.#options.maxConcurrentStreams
      || this.#streams.size >= STREAMS_OPEN_MAX) {
      this.resetStream(id, H2Code.REFUSED_STREAM);
      return;
    }
    const stream = new H2Stream(this, id, headers, this.#peerInitialWindow);
    this.#streams.set(id, stream);
    this.#activity++;
    this.#options.onStream(stream);
    if (endStream) stream.received(EMPTY, 0, true);
  }

  #onRstStream(id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(H2Code.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (payload.length !== 4) throw new ConnectionError(H2Code.FRAME_SIZE_ERROR, 'RST_STREAM size');
    if (id > this.#lastStreamId) {
      throw new ConnectionError(H2Code.PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
    }
    const stream = this.#streams.get(id);
    if (stream === undefined) return;
    // "Rapid reset" (CVE-2023-44487): opening streams and resetting them at once starts work
    // without ever counting against the stream limit. Resets of live streams spend a budget that
    // refills at RESETS_PER_SECOND_MAX; a client that runs it dry is sent away.
    const now = performance.now();
    this.#resetBudget = Math.min(RESETS_PER_SECOND_MAX,
      this.#resetBudget + (now - this.#resetBudgetAt) * RESETS_PER_SECOND_MAX / 1_000);
    this.#resetBudgetAt = now;
    if (this.#resetBudget < 1) {
      throw new ConnectionError(H2Code.ENHANCE_YOUR_CALM, 'too many stream resets');
    }
    this.#resetBudget -= 1;
    stream.closedByPeer();
  }

  #onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(H2Code.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & FLAG_ACK) {
      if (payload.length !== 0) {
        throw new ConnectionError(H2Code.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      }
      return;
    }
    if (payload.length % 6 !== 0) {
      throw new ConnectionError(H2Code.FRAME_SIZE_ERROR, 'SETTINGS size');
    }
    for (let at = 0; at < payload.length; at += 6) {
      const setting = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      switch (setting) {
        case SETTINGS_ENABLE_PUSH:
          if (value > 1) throw new ConnectionError(H2Code.PROTOCOL_ERROR, 'ENABLE_PUSH not 0 or 1');
          break;
        case SETTINGS_INITIAL_WINDOW_SIZE: {
          if (value > WINDOW_MAX) {
            throw new ConnectionError(H2Code.FLOW_CONTROL_ERROR, 'INITIAL_WINDOW_SIZE too large');
          }
          const delta = value - this.#peerInitialWindow;
          this.#peerInitialWindow = value;
          for (const stream of this.#streams.values()) {
            if (!stream.adjustSendWindow(delta)) {
              throw new ConnectionError(H2Code.FLOW_CONTROL_ERROR, 'a stream window over 2^31-1');
            }
          }
          break;
        }
        case SETTINGS_MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_FRAME_SIZE_LIMIT) {
            throw new ConnectionError(H2Code.PROTOCOL_ERROR, `MAX_FRAME_SIZE ${value}`);
          }
          this.#peerMaxFrameSize = value;
          break;
        case SETTINGS_HEADER_TABLE_SIZE:
          // Responses never use the dynamic table, so its size is the client's business.
          break;
        default:
          break;
      }
    }
    this.emit(frame(TYPE_SETTINGS, FLAG_ACK, 0));
    this.#pumpBlocked();
  }

  #onPing(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(H2Code.PROTOCOL_ERROR, 'PING on a stream');
    if (payload.length !== 8) throw new ConnectionError(H2Code.FRAME_SIZE_ERROR, 'PING size');
    if (flags & FLAG_ACK) {
      if (this.#pingDeadline !== undefined) clearTimeout(this.#pingDeadline);
      this.#pingDeadline = undefined;
      return;
    }
    // Answered, never refused: etcd's clients ping often (etcd's keepalive enforcement allows it).
    this.emit(frame(TYPE_PING, FLAG_ACK, 0, payload));
  }

  #onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) {
      throw new ConnectionError(H2Code.FRAME_SIZE_ERROR, 'WINDOW_UPDATE size');
    }
    const increment = payload.readUInt32BE(0) & 0x7fff_ffff;
    if (id === 0) {
      if (increment === 0) throw new ConnectionError(H2Code.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.#sendWindow += increment;
      if (this.#sendWindow > WINDOW_MAX) {
        throw new ConnectionError(H2Code.FLOW_CONTROL_ERROR, 'connection window over 2^31-1');
      }
      this.#pumpBlocked();
      return;
    }
    const stream = this.#streams.get(id);
    if (stream === undefined) {
      if (id > this.#lastStreamId) {
        throw new ConnectionError(H2Code.PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
      }
      return;
    }
    if (increment === 0 || !stream.adjustSendWindow(increment)) {
      this.resetStream(id, increment === 0 ? H2Code.PROTOCOL_ERROR : H2Code.FLOW_CONTROL_ERROR);
      stream.closedByPeer();
      return;
    }
    stream.pump();
  }

  // ---- for H2Stream -----------------------------------------------------------------------------

  /** The connection's send window, shared by every stream. */
  get sendWindow(): number {
    return this.#sendWindow;
  }

  /** Frames of a stream's DATA took `n` bytes of the connection window. */
  spendSendWindow(n: number): void {
    assert(n >= 0 && n <= this.#sendWindow, 'DATA within the connection window');
    this.#sendWindow -= n;
  }

  block(stream: H2Stream): void {
    this.#blocked.add(stream);
  }

  /** Whether the socket holds more unsent bytes than a writer should add to. */
  get congested(): boolean {
    return this.#socket.writableLength + this.#outBytes > SOCKET_HIGH_WATER_BYTES;
  }

  waitDrain(stream: H2Stream): void {
    this.#drainWaiters.add(stream);
  }

  /** A stream is over on both sides: it leaves the table. */
  forget(stream: H2Stream): void {
    this.#streams.delete(stream.id);
    this.#blocked.delete(stream);
    this.#drainWaiters.delete(stream);
  }

  // ---- writing --------------------------------------------------------------------------------

  /** Queues bytes for the socket; they leave together at the end of this turn. */
  emit(bytes: Buffer): void {
    if (this.#closed) return;
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      process.nextTick(flushConnection, this);
    }
  }

  /** Writes everything queued this turn (called once per turn, from process.nextTick). */
  flush(): void {
    this.#flushQueued = false;
    const out = this.#out;
    if (out.length === 0 || this.#closed) return;
    this.#out = [];
    const bytes = this.#outBytes;
    this.#outBytes = 0;
    if (out.length === 1) {
      this.#socket.write(out[0]!);
    } else if (bytes <= FLUSH_COALESCE_BYTES) {
      this.#socket.write(Buffer.concat(out, bytes));
    } else {
      this.#socket.cork();
      for (const b of out) this.#socket.write(b);
      this.#socket.uncork();
    }
    if (this.#socket.writableLength > SOCKET_BUFFER_BYTES_MAX && !this.#readingPaused) {
      this.#readingPaused = true;
      this.#socket.pause();
    }
    // Writers that waited on bytes queued this turn, which the kernel took at once: the socket
    // will not emit 'drain' for them.
    if (this.#drainWaiters.size > 0 && !this.congested) process.nextTick(notifyDrain, this);
  }

  /** Wakes the streams waiting for the socket to drain (socket 'drain', or a flush that left it empty). */
  notifyDrainWaiters(): void {
    if (this.#drainWaiters.size === 0 || this.congested) return;
    const waiters = [...this.#drainWaiters];
    this.#drainWaiters.clear();
    for (const stream of waiters) stream.notifyDrain();
  }

  #onDrain(): void {
    if (this.#readingPaused) {
      this.#readingPaused = false;
      this.#socket.resume();
    }
    this.notifyDrainWaiters();
  }

  #pumpBlocked(): void {
    if (this.#blocked.size === 0) return;
    const blocked = [...this.#blocked];
    this.#blocked.clear();
    for (const stream of blocked) {
      if (this.#sendWindow <= 0) {
        this.#blocked.add(stream);
        continue;
      }
      stream.pump();
    }
  }

  #sendSettings(): void {
    const settings: [number, number][] = [[SETTINGS_INITIAL_WINDOW_SIZE, STREAM_RECEIVE_WINDOW]];
    if (this.#options.maxConcurrentStreams !== STREAMS_UNLIMITED) {
      settings.unshift([SETTINGS_MAX_CONCURRENT_STREAMS, this.#options.maxConcurrentStreams]);
    }
    const payload = Buffer.allocUnsafe(6 * settings.length);
    settings.forEach(([id, value], i) => {
      payload.writeUInt16BE(id, 6 * i);
      payload.writeUInt32BE(value, 6 * i + 2);
    });
    this.emit(frame(TYPE_SETTINGS, 0, 0, payload));
    // The connection window starts at 65,535 whatever SETTINGS say; raise it once.
    this.windowUpdate(0, CONNECTION_RECEIVE_WINDOW - DEFAULT_WINDOW);
  }

  /** Grants the client `increment` more bytes on stream `id` (0: the connection). */
  windowUpdate(id: number, increment: number): void {
    assert(increment > 0 && increment <= WINDOW_MAX, 'a window increment is 1..2^31-1');
    this.emit(u32Frame(TYPE_WINDOW_UPDATE, id, increment));
  }

  /** Sends RST_STREAM and forgets the stream. */
  resetStream(id: number, code: number): void {
    this.emit(u32Frame(TYPE_RST_STREAM, id, code));
    const stream = this.#streams.get(id);
    if (stream !== undefined) this.forget(stream);
  }

  /** GOAWAY with `code`, then every stream is closed and the socket ended. */
  #goAway(code: number, debug: string): void {
    if (this.#goingAway && code === H2Code.NO_ERROR) return;
    this.#goingAway = true;
    const text = Buffer.from(debug, 'utf8');
    const payload = Buffer.allocUnsafe(8 + text.length);
    payload.writeUInt32BE(this.#lastStreamId, 0);
    payload.writeUInt32BE(code, 4);
    text.copy(payload, 8);
    this.emit(frame(TYPE_GOAWAY, 0, 0, payload));
    this.flush();
    this.#socket.end();
    const timer = setTimeout(() => this.#socket.destroy(), CLOSE_GRACE_MS);
    timer.unref();
    this.#destroy();
  }

  /** The connection is over: streams learn it, timers stop, the owner forgets it. */
  #destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#goingAway = true;
    this.#stopKeepalive();
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    this.#blocked.clear();
    this.#drainWaiters.clear();
    for (const stream of streams) stream.closedByPeer();
    this.#options.onClose(this);
  }

  // ---- keepalive ------------------------------------------------------------------------------

  #startKeepalive(): void {
    let seen = -1;
    // etcd's keepalive: ping a connection idle for keepaliveTimeMs, close it if the ping goes
    // unanswered within keepaliveTimeoutMs.
    this.#keepalive = setInterval(() => {
      if (this.#activity !== seen) {
        seen = this.#activity;
        return;
      }
      if (this.#pingDeadline !== undefined) return;
      this.#pingDeadline = setTimeout(() => {
        this.#options.logger.debug('h2: keepalive ping unanswered, closing');
        this.#socket.destroy();
      }, this.#options.keepaliveTimeoutMs);
      this.#pingDeadline.unref();
      this.emit(frame(TYPE_PING, 0, 0, PING_PAYLOAD));
    }, this.#options.keepaliveTimeMs);
    this.#keepalive.unref();
  }

  #stopKeepalive(): void {
    if (this.#keepalive !== undefined) clearInterval(this.#keepalive);
    if (this.#pingDeadline !== undefined) clearTimeout(this.#pingDeadline);
    this.#keepalive = undefined;
    this.#pingDeadline = undefined;
  }
}

/** Queued frames up to this size leave as one buffer; larger turns go out as a corked writev. */
const FLUSH_COALESCE_BYTES = 64 * 1024;
const EMPTY = Buffer.alloc(0);
const PING_PAYLOAD = Buffer.alloc(8);

function flushConnection(connection: H2Connection): void {
  connection.flush();
}

function notifyDrain(connection: H2Connection): void {
  connection.notifyDrainWaiters();
}

/**
 * One request stream. The server side writes through it: `respond` then `write`s then `end`, or
 * the one-shot `respondUnary`, or `respondTrailersOnly`. The request side arrives at `sink`.
 */
export class H2Stream {
  readonly id: number;
  readonly headers: H2Headers;
  sink: H2StreamSink | undefined = undefined;
  readonly #connection: H2Connection;
  #sendWindow: number;
  /** Received bytes not yet granted back, and whether granting is held (reader paused). */
  #receivedUngranted = 0;
  #receiveWindow = STREAM_RECEIVE_WINDOW;
  #paused = false;
  #remoteClosed = false;
  /** END_STREAM queued (or sent), or the stream reset: nothing more may be written. */
  #localEnded = false;
  #gone = false;
  /** Response DATA waiting for window (allocated by the first write that must wait). */
  #queue: Uint8Array[] | undefined = undefined;
  #queuedBytes = 0;
  #trailers: Buffer | undefined = undefined;
  #drainResolvers: (() => void)[] | undefined = undefined;

  constructor(connection: H2Connection, id: number, headers: H2Headers, sendWindow: number) {
    this.#connection = connection;
    this.id = id;
    this.headers = headers;
    this.#sendWindow = sendWindow;
  }

  /** True once nothing more can be sent: ended by the server, reset, or connection gone. */
  get closed(): boolean {
    return this.#localEnded || this.#gone;
  }

  /** Response bytes waiting for flow-control window. */
  get bufferedBytes(): number {
    return this.#queuedBytes;
  }

  // ---- request side (from the connection) -----------------------------------------------------

  received(data: Buffer, flowBytes: number, endStream: boolean): void {
    if (this.#remoteClosed) {
      this.#connection.resetStream(this.id, H2Code.STREAM_CLOSED);
      this.closedByPeer();
      return;
    }
    if (flowBytes > this.#receiveWindow) {
      this.#connection.resetStream(this.id, H2Code.FLOW_CONTROL_ERROR);
      this.closedByPeer();
      return;
    }
    this.#receiveWindow -= flowBytes;
    this.#receivedUngranted += flowBytes;
    // Closed before the data goes up: a handler that answers at once finds the stream done.
    if (endStream) this.#remoteClosed = true;
    if (data.length > 0) this.sink?.onData(data);
    if (endStream) {
      this.sink?.onEnd();
      return;
    }
    this.#grant();
  }

  /** Reset by the client, a protocol error, or the connection is gone. */
  closedByPeer(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#connection.forget(this);
    this.#queue = undefined;
    this.#queuedBytes = 0;
    this.notifyDrain();
    if (!this.#localEnded) this.sink?.onClose();
  }

  /** false when the window would pass 2^31-1 (a flow-control error). */
  adjustSendWindow(delta: number): boolean {
    this.#sendWindow += delta;
    return this.#sendWindow <= WINDOW_MAX;
  }

  // ---- back-pressure on the request side (RequestQueue's PausableSource) -----------------------

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#grant();
  }

  isPaused(): boolean {
    return this.#paused;
  }

  #grant(): void {
    if (this.#paused || this.#remoteClosed || this.#gone) return;
    if (this.#receivedUngranted < STREAM_RECEIVE_WINDOW / 2) return;
    this.#connection.windowUpdate(this.id, this.#receivedUngranted);
    this.#receiveWindow += this.#receivedUngranted;
    this.#receivedUngranted = 0;
  }

  // ---- response side ----------------------------------------------------------------------------

  /**
   * A whole unary answer: response headers, `data` (one gRPC frame) and trailers, as one run of
   * bytes when the windows allow (they nearly always do), else through the flow-controlled path.
   */
  respondUnary(headerBlock: Buffer, data: Uint8Array, trailerBlock: Buffer): void {
    if (this.closed) return;
    const n = data.length;
    if (n > this.#sendWindow || n > this.#connection.sendWindow || n > this.#connection.peerMaxFrameSize
      || headerBlock.length > DEFAULT_MAX_FRAME_SIZE || trailerBlock.length > DEFAULT_MAX_FRAME_SIZE) {
      this.respond(headerBlock);
      this.write(data);
      this.end(trailerBlock);
      return;
    }
    const out = Buffer.allocUnsafe(3 * FRAME_HEADER_BYTES + headerBlock.length + n + trailerBlock.length);
    let at = writeFrameHeader(out, 0, headerBlock.length, TYPE_HEADERS, FLAG_END_HEADERS, this.id);
    at += headerBlock.copy(out, at);
    at = writeFrameHeader(out, at, n, TYPE_DATA, 0, this.id);
    out.set(data, at);
    at += n;
    at = writeFrameHeader(out, at, trailerBlock.length, TYPE_HEADERS,
      FLAG_END_HEADERS | FLAG_END_STREAM, this.id);
    trailerBlock.copy(out, at);
    this.#sendWindow -= n;
    this.#connection.spendSendWindow(n);
    this.#connection.emit(out);
    this.#ended();
  }

  /** Response headers (not flow-controlled). */
  respond(headerBlock: Buffer): void {
    if (this.closed) return;
    this.#headerFrames(headerBlock, false);
  }

  /** A headers-only answer that ends the stream (a gRPC trailers-only response). */
  respondTrailersOnly(block: Buffer): void {
    if (this.closed) return;
    this.#headerFrames(block, true);
    this.#ended();
  }

  /** Queues response DATA; false when the caller should wait for `drained()`. */
  write(data: Uint8Array): boolean {
    if (this.closed) return false;
    if (data.length > 0) {
      (this.#queue ??= []).push(data);
      this.#queuedBytes += data.length;
      this.pump();
    }
    return this.#queuedBytes < STREAM_HIGH_WATER_BYTES && !this.#connection.congested;
  }

  /** Ends the stream with trailers, after every queued DATA frame. */
  end(trailerBlock: Buffer): void {
    if (this.closed) return;
    this.#localEnded = true;
    this.#trailers = trailerBlock;
    this.pump();
  }

  /** Sends what the windows allow; the trailers once the queue is empty. */
  pump(): void {
    if (this.#gone) return;
    const connection = this.#connection;
    const queue = this.#queue;
    while (queue !== undefined && queue.length > 0) {
      const head = queue[0]!;
      const n = Math.min(head.length, this.#sendWindow, connection.sendWindow, connection.peerMaxFrameSize);
      if (n <= 0) {
        connection.block(this);
        return;
      }
      connection.emit(frame(TYPE_DATA, 0, this.id, n === head.length ? head : head.subarray(0, n)));
      this.#sendWindow -= n;
      connection.spendSendWindow(n);
      this.#queuedBytes -= n;
      if (n === head.length) queue.shift();
      else queue[0] = head.subarray(n);
    }
    if (this.#drainResolvers !== undefined) this.notifyDrain();
    const trailers = this.#trailers;
    if (trailers !== undefined) {
      this.#trailers = undefined;
      this.#headerFrames(trailers, true);
      this.#ended();
    }
  }

  /** Resolves when queued response bytes are below the high-water mark, or the stream closed. */
  drained(): Promise<void> {
    if (this.#gone || (this.#queuedBytes < STREAM_HIGH_WATER_BYTES && !this.#connection.congested)) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      (this.#drainResolvers ??= []).push(resolve);
      if (this.#connection.congested) this.#connection.waitDrain(this);
    });
  }

  /** Resolves the drain waiters once the stream and the socket have room (else keeps waiting). */
  notifyDrain(): void {
    if (!this.#gone && (this.#queuedBytes >= STREAM_HIGH_WATER_BYTES)) return;
    if (!this.#gone && this.#connection.congested) {
      this.#connection.waitDrain(this);
      return;
    }
    const resolvers = this.#drainResolvers;
    this.#drainResolvers = undefined;
    for (const resolve of resolvers ?? []) resolve();
  }

  /** The server's END_STREAM went out: the stream is done once the client's side is too. */
  #ended(): void {
    this.#localEnded = true;
    if (this.#remoteClosed) {
      this.#connection.forget(this);
    } else {
      // grpc-go does the same: a call the server finished while the client still had its side
      // open is reset with NO_ERROR, so the client stops sending.
      this.#connection.resetStream(this.id, H2Code.NO_ERROR);
    }
    this.#gone = true;
    this.notifyDrain();
  }

  /** A header block as HEADERS (+ CONTINUATION frames when over the client's frame size). */
  #headerFrames(block: Buffer, endStream: boolean): void {
    assert(block.length > 0, 'a header block holds at least one field');
    const max = this.#connection.peerMaxFrameSize;
    for (let at = 0; at < block.length; at += max) {
      const first = at === 0;
      const last = at + max >= block.length;
      this.#connection.emit(frame(first ? TYPE_HEADERS : TYPE_CONTINUATION,
        (first && endStream ? FLAG_END_STREAM : 0) | (last ? FLAG_END_HEADERS : 0), this.id,
        block.subarray(at, at + max)));
    }
  }
}

/** One whole frame: header and a copy of `payload`. */
function frame(type: number, flags: number, id: number, payload: Uint8Array = EMPTY): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  writeFrameHeader(out, 0, payload.length, type, flags, id);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** A frame whose payload is one 32-bit big-endian value (WINDOW_UPDATE, RST_STREAM). */
function u32Frame(type: number, id: number, value: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(out, 0, 4, type, 0, id);
  out.writeUInt32BE(value, FRAME_HEADER_BYTES);
  return out;
}

/** Writes a 9-byte frame header at `at`; returns the offset after it. */
function writeFrameHeader(out: Buffer, at: number, length: number, type: number, flags: number,
  id: number): number {
  assert(length >= 0 && length <= MAX_FRAME_SIZE_LIMIT, 'frame length fits 24 bits');
  out[at] = length >>> 16;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(id & 0x7fff_ffff, at + 5);
  return at + FRAME_HEADER_BYTES;
}
