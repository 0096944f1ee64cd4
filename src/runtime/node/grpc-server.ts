/**
 * A thin gRPC server on HTTP/2 connections of its own (h2-connection.ts): h2c with prior
 * knowledge, length-prefixed messages, `grpc-status` / `grpc-message` trailers, deadlines,
 * cancellation, keepalive pings and back-pressure, and nothing else (no compression, no
 * reflection, no interceptors). It costs a fraction of @grpc/grpc-js's CPU per call
 * (scripts/bench-grpc.ts measures both), which matters because server CPU decides throughput on
 * two cores.
 *
 * The server knows nothing of etcd: services register handlers with the codecs they want
 * (structural `{ encode, decode }`, as src/api's codecs are). Transport errors follow grpc-go,
 * because etcd is a grpc-go server and its clients are used to its statuses.
 *
 *   const server = new GrpcServer({ logger });
 *   server.addService('etcdserverpb.KV', { Range: unary(rangeReq, rangeRes, (req, call) => ...) });
 *   const port = await server.listen(0, '127.0.0.1');
 */
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { assert, limits, nullLogger } from '../../base/index.js';
import type { Logger } from '../../base/index.js';
import {
  Deframer, FRAME_HEADER_BYTES, GrpcStatusError, Status, encodeGrpcMessage, frameMessage,
  isGrpcStatus, isOneFrame, parseGrpcTimeout,
} from './grpc-frames.js';
import type { GrpcStatus } from './grpc-frames.js';
import { H2Connection, STREAMS_UNLIMITED } from './h2-connection.js';
import type { H2Headers, H2Stream, H2StreamSink } from './h2-connection.js';
import { encodeHeaderBlock } from './h2-hpack.js';
import { RequestQueue } from './request-queue.js';

export { GrpcStatusError, Status, isGrpcStatus } from './grpc-frames.js';
export type { GrpcStatus } from './grpc-frames.js';

/** What a handler needs from a message codec; src/api's `Codec` satisfies it. */
export interface WireCodec<T, In = T> {
  encode(message: In): Uint8Array;
  /**
   * Optional: the message already behind gRPC's 5-byte prefix (uncompressed, big-endian length),
   * in one buffer; saves the copy `frameMessage(encode(m))` makes.
   */
  encodeFramed?(message: In): Uint8Array;
  decode(bytes: Uint8Array): T;
}

export interface CallContext {
  /** Request headers (gRPC metadata), lower-case keys: `token`, `hasleader`, ... */
  readonly metadata: Readonly<Record<string, string | string[] | undefined>>;
  /** Aborted when the client cancels, the deadline passes, or the call otherwise ends early. */
  readonly signal: AbortSignal;
  /** True once the call can no longer send anything. */
  readonly cancelled: boolean;
}

export interface ServerStreamCall<Res> extends CallContext {
  /** Sends one message; false means the transport buffer is full: wait for `drained()`. */
  write(message: Res): boolean;
  /** Resolves when the transport buffer has drained, or the call has ended. */
  drained(): Promise<void>;
}

export interface BidiCall<Req, Res> extends ServerStreamCall<Res> {
  /** The client's messages, in order; ends when the client half-closes. */
  readonly requests: AsyncIterable<Req>;
}

export type UnaryHandler<Req, Res> = (request: Req, call: CallContext) => Res | Promise<Res>;
export type ServerStreamHandler<Req, Res> =
  (request: Req, call: ServerStreamCall<Res>) => void | Promise<void>;
export type BidiHandler<Req, Res> = (call: BidiCall<Req, Res>) => void | Promise<void>;

interface MethodBase {
  readonly decode: (bytes: Uint8Array) => unknown;
  /** A response message as one gRPC frame (prefix and message). */
  readonly frame: (message: unknown) => Uint8Array;
}
type Method =
  | (MethodBase & { readonly kind: 'unary'; readonly handler: UnaryHandler<unknown, unknown> })
  | (MethodBase & { readonly kind: 'serverStream';
    readonly handler: ServerStreamHandler<unknown, unknown> })
  | (MethodBase & { readonly kind: 'bidi'; readonly handler: BidiHandler<unknown, unknown> });

export type MethodDefinition = Method;

export function unary<Req, Res, ResIn>(
  request: WireCodec<Req, never>, response: WireCodec<unknown, ResIn>,
  handler: UnaryHandler<Req, ResIn>,
): MethodDefinition {
  return {
    kind: 'unary', decode: (b) => request.decode(b), frame: framer(response),
    handler: handler as UnaryHandler<unknown, unknown>,
  };
}

export function serverStream<Req, ResIn>(
  request: WireCodec<Req, never>, response: WireCodec<unknown, ResIn>,
  handler: ServerStreamHandler<Req, ResIn>,
): MethodDefinition {
  return {
    kind: 'serverStream', decode: (b) => request.decode(b), frame: framer(response),
    handler: handler as ServerStreamHandler<unknown, unknown>,
  };
}

export function bidi<Req, ResIn>(
  request: WireCodec<Req, never>, response: WireCodec<unknown, ResIn>,
  handler: BidiHandler<Req, ResIn>,
): MethodDefinition {
  return {
    kind: 'bidi', decode: (b) => request.decode(b), frame: framer(response),
    handler: handler as BidiHandler<unknown, unknown>,
  };
}

function framer<ResIn>(response: WireCodec<unknown, ResIn>): (message: unknown) => Uint8Array {
  if (response.encodeFramed !== undefined) {
    return (m) => (response.encodeFramed as (message: ResIn) => Uint8Array)(m as ResIn);
  }
  return (m) => frameMessage(response.encode(m as ResIn));
}

/** Hooks for metrics, called on every call: implementations only bump integers. */
export interface GrpcObserver {
  /** A call began on a registered method (`/service/method`). */
  started(path: string, kind: MethodDefinition['kind']): void;
  /** A started call ended with this gRPC status code (1 when the client went away). */
  handled(path: string, code: number): void;
  received(bytes: number): void;
  sent(bytes: number): void;
}

export interface GrpcServerOptions {
  readonly logger?: Logger;
  readonly observer?: GrpcObserver;
  /** Largest request message accepted (etcd: max-request-bytes + 512 KiB). */
  readonly receiveBytesMax?: number;
  /** Ping a connection idle this long (etcd: 2 h)... */
  readonly keepaliveTimeMs?: number;
  /** ...and close it if the ping is not answered within this (etcd: 20 s). */
  readonly keepaliveTimeoutMs?: number;
  /** Request messages queued on one stream before the stream is paused. */
  readonly streamRequestsQueuedMax?: number;
  /** Response bytes buffered on one stream beyond which a call that ignores back-pressure ends. */
  readonly streamWriteBufferBytesMax?: number;
  /** Concurrent streams a client may open on one connection (etcd --max-concurrent-streams). */
  readonly streamsPerConnectionMax?: number;
}

const DEFAULTS = {
  receiveBytesMax: limits.requestBytesMax + limits.grpcOverheadBytes,
  keepaliveTimeMs: 2 * 60 * 60 * 1000,
  keepaliveTimeoutMs: 20_000,
  streamRequestsQueuedMax: 1_024,
  streamWriteBufferBytesMax: 64 * 1024 * 1024,
  /** etcd's default: math.MaxUint32, HTTP/2's largest setting. */
  streamsPerConnectionMax: STREAMS_UNLIMITED,
} as const;

/** Header blocks as HPACK bytes, encoded once: responses never touch the dynamic table. */
function headerBlock(fields: Readonly<Record<string, string>>): Buffer {
  return encodeHeaderBlock(
    Object.entries(fields).map(([name, value]) => ({ name, value, sensitive: false })));
}
const RESPONSE_HEADERS = headerBlock({ ':status': '200', 'content-type': 'application/grpc' });
const OK_TRAILERS = headerBlock({ 'grpc-status': '0' });

function statusTrailers(status: GrpcStatus): Buffer {
  return headerBlock({
    'grpc-status': String(status.grpcCode), 'grpc-message': encodeGrpcMessage(status.message),
  });
}

/** What every call of one server shares. */
interface CallEnv {
  readonly options: Required<Omit<GrpcServerOptions, 'logger' | 'observer'>>;
  readonly logger: Logger;
  readonly observer: GrpcObserver | undefined;
}

export class GrpcServer {
  readonly #services = new Map<string, ReadonlyMap<string, Method>>();
  /** Every registered method by its path, `/<service>/<Method>`: one lookup per call. */
  readonly #methods = new Map<string, Method>();
  readonly #connections = new Set<H2Connection>();
  #listener: net.Server | undefined = undefined;
  readonly #logger: Logger;
  readonly #observer: GrpcObserver | undefined;
  readonly #options: Required<Omit<GrpcServerOptions, 'logger' | 'observer'>>;
  readonly #env: CallEnv;
  readonly #onStream = (stream: H2Stream): void => this.#startCall(stream);
  readonly #onClose = (connection: H2Connection): void => { this.#connections.delete(connection); };

  constructor(options: GrpcServerOptions = {}) {
    this.#logger = options.logger ?? nullLogger;
    this.#observer = options.observer;
    this.#options = {
      receiveBytesMax: options.receiveBytesMax ?? DEFAULTS.receiveBytesMax,
      keepaliveTimeMs: options.keepaliveTimeMs ?? DEFAULTS.keepaliveTimeMs,
      keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? DEFAULTS.keepaliveTimeoutMs,
      streamRequestsQueuedMax: options.streamRequestsQueuedMax ?? DEFAULTS.streamRequestsQueuedMax,
      streamWriteBufferBytesMax:
        options.streamWriteBufferBytesMax ?? DEFAULTS.streamWriteBufferBytesMax,
      streamsPerConnectionMax: options.streamsPerConnectionMax ?? DEFAULTS.streamsPerConnectionMax,
    };
    for (const [name, value] of Object.entries(this.#options)) {
      assert(Number.isSafeInteger(value) && value > 0, `GrpcServer option ${name}: ${value}`);
    }
    this.#env = { options: this.#options, logger: this.#logger, observer: this.#observer };
  }

  /** Registers a service's methods under `/<service>/<Method>`; a service registers once. */
  addService(service: string, methods: Readonly<Record<string, MethodDefinition>>): void {
    assert(!this.#services.has(service), `service ${service} registered twice`);
    assert(/^[\w.]+$/.test(service), `bad service name ${service}`);
    this.#services.set(service, new Map(Object.entries(methods)));
    for (const [name, method] of Object.entries(methods)) this.#methods.set(`/${service}/${name}`, method);
  }

  /** The registered method at `/<service>/<method>`, if any (the JSON gateway calls it too). */
  lookup(service: string, method: string): MethodDefinition | undefined {
    return this.#services.get(service)?.get(method);
  }

  /**
   * Serves an HTTP/2 connection accepted elsewhere (the client port that also serves HTTP/1.1):
   * `head` holds the bytes already read from it, the preface first.
   */
  acceptConnection(socket: Socket, head: Buffer = EMPTY): void {
    // Without TCP_NODELAY, Nagle's algorithm meets the client's delayed ACKs and small responses
    // wait ~40 ms: 64 calls in flight then top out near 1,600/s.
    socket.setNoDelay(true);
    this.#connections.add(new H2Connection(socket, head, {
      logger: this.#logger,
      maxConcurrentStreams: this.#options.streamsPerConnectionMax,
      keepaliveTimeMs: this.#options.keepaliveTimeMs,
      keepaliveTimeoutMs: this.#options.keepaliveTimeoutMs,
      onStream: this.#onStream,
      onClose: this.#onClose,
    }));
  }

  /** Listens and resolves with the bound port (pass 0 for any free port). */
  listen(port: number, host: string): Promise<number> {
    assert(this.#listener === undefined, 'a GrpcServer listens once');
    const listener = net.createServer((socket) => this.acceptConnection(socket));
    this.#listener = listener;
    return new Promise((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(port, host, () => {
        listener.off('error', reject);
        resolve((listener.address() as AddressInfo).port);
      });
    });
  }

  /** Stops accepting, sends GOAWAY on every connection and ends it; resolves when closed. */
  async close(): Promise<void> {
    const listener = this.#listener;
    const closed = listener === undefined ? Promise.resolve()
      : new Promise<void>((resolve) => listener.close(() => resolve()));
    for (const connection of [...this.#connections]) connection.close();
    await closed;
  }

  #startCall(stream: H2Stream): void {
    const headers = stream.headers;
    const contentType = headers['content-type'];
    if (contentType === undefined || !isGrpcContentType(contentType)) {
      // grpc-go answers HTTP 415 with an InvalidArgument status.
      stream.respondTrailersOnly(headerBlock({
        ':status': '415', 'content-type': 'application/grpc',
        'grpc-status': String(Status.INVALID_ARGUMENT),
        'grpc-message': encodeGrpcMessage(
          `invalid gRPC request content-type ${JSON.stringify(contentType ?? '')}`),
      }));
      return;
    }
    const call = new Call(stream, this.#env);
    const early = this.#precheck(headers);
    if (isGrpcStatus(early)) {
      call.finish(early);
      return;
    }
    call.start(early);
  }

  #precheck(headers: H2Headers): Method | GrpcStatus {
    const encoding = headers['grpc-encoding'];
    if (typeof encoding === 'string' && encoding !== 'identity') {
      return new GrpcStatusError(Status.UNIMPLEMENTED,
        `grpc: Decompressor is not installed for grpc-encoding ${JSON.stringify(encoding)}`);
    }
    const path = headers[':path'] ?? '';
    if (headers[':method'] === 'POST') {
      const known = this.#methods.get(path);
      if (known !== undefined) return known;
    }
    const slash = path.lastIndexOf('/');
    if (headers[':method'] !== 'POST' || !path.startsWith('/') || slash <= 0) {
      return new GrpcStatusError(Status.UNIMPLEMENTED,
        `malformed method name: ${JSON.stringify(path)}`);
    }
    const serviceName = path.slice(1, slash);
    const methodName = path.slice(slash + 1);
    const service = this.#services.get(serviceName);
    if (service === undefined) {
      return new GrpcStatusError(Status.UNIMPLEMENTED, `unknown service ${serviceName}`);
    }
    const method = service.get(methodName);
    if (method === undefined) {
      return new GrpcStatusError(Status.UNIMPLEMENTED,
        `unknown method ${methodName} for service ${serviceName}`);
    }
    return method;
  }
}

function isGrpcContentType(contentType: string): boolean {
  if (!contentType.startsWith('application/grpc')) return false;
  const rest = contentType.slice('application/grpc'.length);
  return rest === '' || rest === '+proto' || rest[0] === ';' || rest.startsWith('+proto;');
}

const EMPTY = Buffer.alloc(0);

/** One call on one HTTP/2 stream, from headers to the status trailer. */
class Call implements BidiCall<unknown, unknown>, H2StreamSink {
  readonly metadata: H2Headers;
  readonly #stream: H2Stream;
  readonly #options: Required<Omit<GrpcServerOptions, 'logger' | 'observer'>>;
  readonly #logger: Logger;
  readonly #observer: GrpcObserver | undefined;
  #deframer: Deframer | undefined = undefined;
  #method: Method | undefined = undefined;
  #abort: AbortController | undefined = undefined;
  #headersSent = false;
  #done = false;
  #deadline: NodeJS.Timeout | undefined = undefined;
  #received = 0;
  // bidi request queue
  #requests: RequestQueue | undefined = undefined;

  constructor(stream: H2Stream, env: CallEnv) {
    this.#stream = stream;
    this.metadata = stream.headers;
    this.#options = env.options;
    this.#logger = env.logger;
    this.#observer = env.observer;
    stream.sink = this;
  }

  // ---- the stream's events (H2StreamSink) -------------------------------------------------------

  onData(chunk: Buffer): void {
    this.#observer?.received(chunk.length);
    if (this.#done || this.#method === undefined) return;
    let deframer = this.#deframer;
    if (deframer === undefined) {
      // A unary request usually arrives as one DATA frame holding exactly one message: no deframer.
      if (isOneFrame(chunk, this.#options.receiveBytesMax)) {
        this.#onMessage(chunk.subarray(FRAME_HEADER_BYTES));
        return;
      }
      deframer = new Deframer(this.#options.receiveBytesMax);
      this.#deframer = deframer;
    }
    const bad = deframer.push(chunk, this.#onMessage, this);
    if (bad !== undefined) this.finish(bad);
  }

  onEnd(): void {
    if (this.#method === undefined) return;
    this.#onEnd(this.#deframer?.idle ?? true);
  }

  onClose(): void {
    // The client reset the stream or the connection went away before the call ended.
    if (!this.#done) {
      this.#handled(Status.CANCELLED);
      this.#end();
    }
  }

  get signal(): AbortSignal {
    this.#abort ??= new AbortController();
    if (this.#done && !this.#abort.signal.aborted) this.#abort.abort();
    return this.#abort.signal;
  }

  get cancelled(): boolean {
    return this.#done;
  }

  start(method: Method): void {
    this.#method = method;
    this.#observer?.started(this.metadata[':path'] ?? '', method.kind);
    const timeout = parseGrpcTimeout(this.metadata['grpc-timeout']);
    if (isGrpcStatus(timeout)) {
      this.finish(timeout);
      return;
    }
    if (timeout !== undefined) {
      this.#deadline = setTimeout(() => this.finish(
        new GrpcStatusError(Status.DEADLINE_EXCEEDED, 'context deadline exceeded')),
      Math.max(0, Math.ceil(timeout)));
    }
  }

  #onMessage(this: Call, bytes: Buffer): void {
    if (this.#done) return;
    const method = this.#method;
    assert(method !== undefined, 'messages arrive only after start');
    this.#received++;
    let request: unknown;
    try {
      request = method.decode(bytes);
    } catch (err) {
      this.finish(new GrpcStatusError(Status.INTERNAL,
        `grpc: error unmarshalling request: ${errorText(err)}`));
      return;
    }
    if (method.kind === 'bidi') {
      if (this.#received === 1) this.#runBidi(method.handler);
      this.#requestQueue().push(request);
    } else if (this.#received === 1) {
      if (method.kind === 'unary') this.#runUnary(method.handler, request);
      else this.#runServerStream(method.handler, request);
    } else {
      this.finish(new GrpcStatusError(Status.INTERNAL,
        'grpc: client streaming protocol violation: more than one request message'));
    }
  }

  #onEnd(idle: boolean): void {
    if (this.#done) return;
    if (!idle) {
      // A stream that ends inside a frame: etcd (grpc-go) answers Unknown "unexpected EOF".
      this.finish(new GrpcStatusError(Status.UNKNOWN, 'unexpected EOF'));
      return;
    }
    const method = this.#method;
    assert(method !== undefined, 'end arrives only after start');
    if (method.kind === 'bidi') {
      if (this.#received === 0) this.#runBidi(method.handler);
      this.#requestQueue().end();
    } else if (this.#received === 0) {
      this.finish(new GrpcStatusError(Status.INTERNAL,
        'grpc: error while receiving request: no request message'));
    }
  }

  #runUnary(handler: UnaryHandler<unknown, unknown>, request: unknown): void {
    let result: unknown;
    try {
      result = handler(request, this);
    } catch (err) {
      this.finish(this.#statusOf(err));
      return;
    }
    if (result instanceof Promise) {
      result.then((response) => this.#reply(response), (err) => this.finish(this.#statusOf(err)));
    } else {
      this.#reply(result);
    }
  }

  #reply(response: unknown): void {
    if (this.#done) return;
    let frame: Uint8Array;
    try {
      frame = this.#frame(response);
    } catch (err) {
      this.finish(this.#statusOf(err));
      return;
    }
    this.#done = true;
    this.#clearDeadline();
    this.#handled(0);
    if (this.#stream.closed) return;
    this.#observer?.sent(frame.length);
    this.#stream.respondUnary(RESPONSE_HEADERS, frame, OK_TRAILERS);
  }

  #runServerStream(handler: ServerStreamHandler<unknown, unknown>, request: unknown): void {
    this.#settle(() => handler(request, this));
  }

  #runBidi(handler: BidiHandler<unknown, unknown>): void {
    this.#settle(() => handler(this));
  }

  /** Runs a streaming handler; its return ends the call with OK, its throw with a status. */
  #settle(run: () => void | Promise<void>): void {
    let result: void | Promise<void>;
    try {
      result = run();
    } catch (err) {
      this.finish(this.#statusOf(err));
      return;
    }
    if (result instanceof Promise) {
      result.then(() => this.finish(undefined), (err) => this.finish(this.#statusOf(err)));
    } else {
      this.finish(undefined);
    }
  }

  write(message: unknown): boolean {
    if (this.#done) return false;
    const stream = this.#stream;
    if (stream.closed) return false;
    const frame = this.#frame(message);
    if (!this.#headersSent) {
      this.#headersSent = true;
      stream.respond(RESPONSE_HEADERS);
    }
    this.#observer?.sent(frame.length);
    const more = stream.write(frame);
    if (stream.bufferedBytes > this.#options.streamWriteBufferBytesMax) {
      this.finish(new GrpcStatusError(Status.RESOURCE_EXHAUSTED,
        `grpc: server stream write buffer over ${this.#options.streamWriteBufferBytesMax} bytes`));
      return false;
    }
    return more;
  }

  drained(): Promise<void> {
    return this.#done ? Promise.resolve() : this.#stream.drained();
  }

  get requests(): AsyncIterable<unknown> {
    return this.#requestQueue().requests;
  }

  #requestQueue(): RequestQueue {
    // Request-side back-pressure: at the maximum the stream stops granting flow-control window,
    // and HTTP/2 flow control then stops the client.
    this.#requests ??= new RequestQueue(this.#stream, this.#options.streamRequestsQueuedMax);
    return this.#requests;
  }

  #frame(message: unknown): Uint8Array {
    const method = this.#method;
    assert(method !== undefined, 'encoding only after start');
    return method.frame(message);
  }

  #statusOf(err: unknown): GrpcStatus {
    if (isGrpcStatus(err) && err.grpcCode !== Status.OK) return err;
    // Not a status: a bug in a handler. The client gets Unknown (as grpc-go sends for a plain
    // error); the log says where.
    this.#logger.error('grpc handler failed', { err: errorText(err), path: this.metadata[':path'] });
    return new GrpcStatusError(Status.UNKNOWN, errorText(err));
  }

  /** Ends the call with `status` (undefined = OK) unless it has ended already. */
  finish(status: GrpcStatus | undefined): void {
    if (this.#done) return;
    this.#handled(status?.grpcCode ?? Status.OK);
    this.#end();
    const stream = this.#stream;
    if (stream.closed) return;
    const trailers = status === undefined ? OK_TRAILERS : statusTrailers(status);
    if (this.#headersSent) {
      stream.end(trailers);
    } else {
      // Trailers-only response: the status travels in the one HEADERS frame.
      this.#headersSent = true;
      stream.respondTrailersOnly(Buffer.concat([RESPONSE_HEADERS, trailers]));
    }
  }

  /** Counts a started call's end (calls refused before start are not per-method traffic). */
  #handled(code: number): void {
    if (this.#method !== undefined) this.#observer?.handled(this.metadata[':path'] ?? '', code);
  }

  #end(): void {
    this.#done = true;
    this.#clearDeadline();
    if (this.#abort !== undefined && !this.#abort.signal.aborted) this.#abort.abort();
    this.#requests?.end();
  }

  #clearDeadline(): void {
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    this.#deadline = undefined;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
