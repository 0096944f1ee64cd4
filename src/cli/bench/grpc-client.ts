/**
 * A minimal gRPC client on node:http2, for load generation: h2c with prior knowledge, requests
 * already framed (see wire.ts), grpc-status read from the trailers (or from the headers of a
 * trailers-only reply). Many concurrent streams share a few connections, like etcd's own
 * benchmark (--conns). It is several times cheaper per call than @grpc/grpc-js because it does
 * nothing a benchmark does not need: no deadlines, retries, interceptors or message objects.
 */
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { assert } from '../../base/index.js';
import { MESSAGE_BYTES_MAX } from './wire.js';

export const PATH = {
  range: '/etcdserverpb.KV/Range',
  put: '/etcdserverpb.KV/Put',
  deleteRange: '/etcdserverpb.KV/DeleteRange',
  txn: '/etcdserverpb.KV/Txn',
  leaseGrant: '/etcdserverpb.Lease/LeaseGrant',
  leaseRevoke: '/etcdserverpb.Lease/LeaseRevoke',
  leaseKeepAlive: '/etcdserverpb.Lease/LeaseKeepAlive',
  watch: '/etcdserverpb.Watch/Watch',
} as const;

export class GrpcError extends Error {
  constructor(readonly code: number, message: string) {
    super(`gRPC status ${code}: ${message}`);
  }
}

/** Called once per unary call: an error, or the response message (without its 5-byte prefix). */
export type UnaryCallback = (err: Error | undefined, message: Buffer | undefined) => void;

const {
  HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_TE,
} = constants;

function headersFor(path: string): Record<string, string> {
  return {
    [HTTP2_HEADER_METHOD]: 'POST', [HTTP2_HEADER_PATH]: path,
    [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc', [HTTP2_HEADER_TE]: 'trailers',
  };
}

const HEADERS = new Map<string, Record<string, string>>(
  Object.values(PATH).map((p) => [p, headersFor(p)]));

function grpcStatusOf(h: Record<string, unknown>): { code: number; message: string } | undefined {
  const s = h['grpc-status'];
  if (s === undefined) return undefined;
  const m = h['grpc-message'];
  return { code: Number(s), message: m === undefined ? '' : decodeURIComponent(String(m)) };
}

/**
 * Splits a byte stream into gRPC messages. Chunks of a message that spans several are kept in a
 * list and joined once, when the whole message is there (a large WatchResponse arrives in many
 * 16 KiB chunks; joining on every chunk would copy it over and over).
 */
export class MessageSplitter {
  #parts: Buffer[] = [];
  #have = 0;
  /** Size of the message being gathered (prefix included), or 0 until its prefix is known. */
  #want = 0;
  constructor(readonly onMessage: (message: Buffer) => void) {}
  push(chunk: Buffer): void {
    if (this.#have > 0) {
      this.#parts.push(chunk);
      this.#have += chunk.length;
      if (this.#want === 0 && this.#have >= 5) {
        this.#want = this.#sizeOf(Buffer.concat(this.#parts));
      }
      if (this.#want === 0 || this.#have < this.#want) return;
      chunk = Buffer.concat(this.#parts, this.#have);
      this.#parts = [];
      this.#have = 0;
      this.#want = 0;
    }
    let pos = 0;
    while (chunk.length - pos >= 5) {
      const size = this.#sizeOf(chunk.subarray(pos));
      if (chunk.length - pos < size) break;
      this.onMessage(chunk.subarray(pos + 5, pos + size));
      pos += size;
    }
    if (pos < chunk.length) {
      const rest = chunk.subarray(pos);
      this.#parts = [rest];
      this.#have = rest.length;
      this.#want = rest.length >= 5 ? this.#sizeOf(rest) : 0;
    }
  }
  /** Full size (prefix included) of the message starting at b[0]. */
  #sizeOf(b: Buffer): number {
    const size = b.readUInt32BE(1);
    if (size > MESSAGE_BYTES_MAX) throw new RangeError(`gRPC message of ${size} bytes`);
    return size + 5;
  }
  get idle(): boolean { return this.#have === 0; }
}

/** A bidirectional stream (Watch, LeaseKeepAlive). */
export interface BidiStream {
  write(frame: Buffer): void;
  /** Half-closes and resets the stream. */
  close(): void;
}

export class GrpcChannel {
  readonly #sessions: ClientHttp2Session[];
  #next = 0;

  private constructor(sessions: ClientHttp2Session[]) {
    this.#sessions = sessions;
  }

  /** Opens `conns` HTTP/2 connections to `endpoint` (host:port). */
  static async connect(endpoint: string, conns: number): Promise<GrpcChannel> {
    assert(conns >= 1, 'at least one connection');
    const sessions = await Promise.all(Array.from({ length: conns }, () => openSession(endpoint)));
    return new GrpcChannel(sessions);
  }

  #session(): ClientHttp2Session {
    const s = this.#sessions[this.#next];
    this.#next = (this.#next + 1) % this.#sessions.length;
    assert(s !== undefined, 'session index in range');
    return s;
  }

  /** One unary call; `wantBody` false drops the response bytes unread. */
  unary(path: string, frame: Buffer, wantBody: boolean, cb: UnaryCallback): void {
    const headers = HEADERS.get(path);
    assert(headers !== undefined, `unknown gRPC path ${path}`);
    let req: ClientHttp2Stream;
    try {
      req = this.#session().request(headers, { endStream: false });
    } catch (err) {
      cb(err as Error, undefined);
      return;
    }
    let status: { code: number; message: string } | undefined;
    let body: Buffer | undefined;
    const chunks: Buffer[] = [];
    req.on('response', (h) => { status ??= grpcStatusOf(h); });
    req.on('trailers', (h) => { status ??= grpcStatusOf(h); });
    if (wantBody) req.on('data', (c: Buffer) => { chunks.push(c); });
    else req.on('data', noop);
    req.on('error', noop); // reported through close below
    req.on('close', () => {
      if (status === undefined) {
        cb(new GrpcError(14, `stream closed without status (rst ${req.rstCode})`), undefined);
      } else if (status.code !== 0) {
        cb(new GrpcError(status.code, status.message), undefined);
      } else {
        if (wantBody) {
          body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
          body = body === undefined || body.length < 5 ? Buffer.alloc(0) : body.subarray(5);
        }
        cb(undefined, body);
      }
    });
    req.end(frame);
  }

  unaryAsync(path: string, frame: Buffer, wantBody = true): Promise<Buffer | undefined> {
    return new Promise((resolve, reject) => {
      this.unary(path, frame, wantBody,
        (err, msg) => (err === undefined ? resolve(msg) : reject(err)));
    });
  }

  /** Opens a bidirectional stream; `onEnd` gets the status error, or undefined for OK. */
  stream(path: string, onMessage: (message: Buffer) => void,
    onEnd: (err: Error | undefined) => void): BidiStream {
    const headers = HEADERS.get(path);
    assert(headers !== undefined, `unknown gRPC path ${path}`);
    const req = this.#session().request(headers, { endStream: false });
    const splitter = new MessageSplitter(onMessage);
    let status: { code: number; message: string } | undefined;
    req.on('response', (h) => { status ??= grpcStatusOf(h); });
    req.on('trailers', (h) => { status ??= grpcStatusOf(h); });
    req.on('data', (c: Buffer) => splitter.push(c));
    req.on('error', noop);
    req.on('close', () => {
      if (status === undefined || status.code === 0) onEnd(undefined);
      else onEnd(new GrpcError(status.code, status.message));
    });
    return {
      write: (frame) => { req.write(frame); },
      close: () => { req.close(constants.NGHTTP2_CANCEL); },
    };
  }

  close(): void {
    for (const s of this.#sessions) s.destroy();
  }
}

function noop(): void {}

function openSession(endpoint: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = connect(`http://${endpoint}`, { settings: { enablePush: false } });
    s.once('connect', () => {
      s.removeListener('error', reject);
      s.on('error', noop); // a broken connection fails its streams, which report it
      resolve(s);
    });
    s.once('error', reject);
  });
}
