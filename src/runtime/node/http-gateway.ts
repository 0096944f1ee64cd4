/**
 * etcd's HTTP/1.1 side of the client port: the JSON gateway under `/v3/` (and `/v3beta/`), plus
 * `/health`, `/version` and `/metrics` (spec §7, etcd-observed.md "Gateway").
 *
 * The gateway has no handlers of its own: a route names a gRPC method, and the gateway calls the
 * handler the GrpcServer has registered for it, with the request decoded from JSON instead of
 * protobuf and each response encoded to JSON. Unary calls answer one JSON object; streaming
 * calls answer `{"result":...}` lines (chunked), reading a bidi call's requests as a sequence of
 * JSON objects from the body as it arrives (grpc-gateway's behaviour, spec §7.4).
 *
 * Errors follow etcd 3.4's grpc-gateway v1: the HTTP status from the gRPC code, body
 * `{"error":m,"message":m,"code":c}`; after a stream has started, one
 * `{"error":{"grpc_code","http_code","message","http_status"}}` line. Unknown paths answer 404,
 * wrong methods 405, as plain text. Bodies are bounded (`bodyBytesMax`); a malformed one gets
 * InvalidArgument and the server keeps serving.
 */
import http from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { assert, nullLogger } from '../../base/index.js';
import type { Logger } from '../../base/index.js';
import { parseJsonExact } from '../../api/index.js';
import { GrpcStatusError, Status, isGrpcStatus } from './grpc-frames.js';
import type { GrpcStatus } from './grpc-frames.js';
import type { BidiCall, MethodDefinition } from './grpc-server.js';
import { drainedOrClosed } from './drained.js';
import { RequestQueue } from './request-queue.js';

/** A message's JSON mapping, as src/api's JsonCodec provides it. */
export interface GatewayJson {
  fromJson(value: unknown): unknown;
  toJson(message: unknown): Record<string, unknown>;
}

export interface HttpGatewayRoute {
  readonly service: string;
  readonly method: string;
  readonly request: GatewayJson;
  readonly response: GatewayJson;
  /**
   * The end of the body does not end the request stream; only the client's disconnect does.
   * For Watch: etcd's watch outlives a half-close (spec §4.7.5), so `curl -d` watches stay open.
   */
  readonly holdOpen?: boolean;
}

/** The non-gateway endpoints, supplied by boot (they need the member's state). */
export interface HttpEndpoints {
  /** etcd's health verdict; a reason is logged when unhealthy. */
  health(): Promise<{ readonly healthy: boolean; readonly reason?: string }>;
  version(): Readonly<Record<string, string>>;
  metrics(): Promise<{ readonly contentType: string; readonly body: string }>;
}

export interface HttpGatewayOptions {
  /** Routes by path under the version prefix (`kv/range`). */
  readonly routes: ReadonlyMap<string, HttpGatewayRoute>;
  /** The gRPC server's registered method, if any (GrpcServer.lookup). */
  readonly lookup: (service: string, method: string) => MethodDefinition | undefined;
  readonly endpoints: HttpEndpoints;
  /** The gRPC server's message limit; reported in the "message larger than max" error. */
  readonly receiveBytesMax: number;
  readonly logger?: Logger;
  /** Largest request body read; more answers ResourceExhausted (429) without reading on. */
  readonly bodyBytesMax?: number;
  /** Parsed requests queued on one streaming call before the body is paused. */
  readonly streamRequestsQueuedMax?: number;
  /** Response bytes buffered on one stream beyond which a call ignoring back-pressure ends. */
  readonly streamWriteBufferBytesMax?: number;
  /**
   * Gateway calls in progress at once (etcd's --max-concurrent-streams: etcd's gateway reaches
   * its gRPC server over one connection, so that is how many calls it runs together). Calls
   * beyond it wait, in arrival order, until one ends.
   */
  readonly callsInFlightMax?: number;
  /** Calls waiting for a free slot at most; beyond it a call is refused (Unavailable). */
  readonly callsWaitingMax?: number;
}

const DEFAULTS = {
  streamRequestsQueuedMax: 1_024,
  streamWriteBufferBytesMax: 64 * 1024 * 1024,
  callsInFlightMax: 0xffff_ffff,
  callsWaitingMax: 65_536,
} as const;

/** A gateway call waiting for a slot; `res` tells whether its client is still there. */
interface WaitingCall {
  readonly res: http.ServerResponse;
  readonly start: () => void;
}

/** grpc-gateway v1.9.5's HTTPStatusFromCode, as etcd 3.4.23 answers (FailedPrecondition: 412). */
export function gatewayHttpStatus(grpcCode: number): number {
  const table: readonly number[] = [200, 408, 500, 400, 504, 404, 409, 403, 429, 412, 409, 400,
    501, 500, 503, 500, 401];
  return table[grpcCode] ?? 500;
}

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, GET, OPTIONS, PUT, DELETE',
  'access-control-allow-headers': 'accept, content-type, authorization',
} as const;

const PREFIXES = ['/v3/', '/v3beta/'] as const;

/** The body of a unary error, etcd 3.4's key order. */
export function errorBody(s: GrpcStatus): string {
  return JSON.stringify({ error: s.message, message: s.message, code: s.grpcCode });
}

/** The line that ends a stream with an error after it has started. */
export function streamErrorLine(s: GrpcStatus): string {
  const httpCode = gatewayHttpStatus(s.grpcCode);
  return `${JSON.stringify({ error: {
    grpc_code: s.grpcCode, http_code: httpCode, message: s.message,
    http_status: http.STATUS_CODES[httpCode] ?? '',
  } })}\n`;
}

/** gRPC metadata from HTTP headers: `Authorization`, and `Grpc-Metadata-<key>` as `<key>`. */
function metadataOf(headers: IncomingHttpHeaders, service: string, method: string):
  IncomingHttpHeaders {
  const md: IncomingHttpHeaders = { ':path': `/${service}/${method}` };
  if (headers.authorization !== undefined) md.authorization = headers.authorization;
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith('grpc-metadata-') && v !== undefined) md[k.slice('grpc-metadata-'.length)] = v;
  }
  return md;
}

function jsonSyntaxError(err: unknown): GrpcStatus {
  const text = err instanceof Error ? err.message : String(err);
  return new GrpcStatusError(Status.INVALID_ARGUMENT,
    /end of (JSON|data)/i.test(text) ? 'unexpected EOF' : text);
}

export class HttpGateway {
  readonly #o: HttpGatewayOptions;
  readonly #logger: Logger;
  readonly #bodyBytesMax: number;
  readonly #queuedMax: number;
  readonly #writeBufferMax: number;
  readonly #callsMax: number;
  readonly #waitingMax: number;
  #callsInFlight = 0;
  #waiting: WaitingCall[] = [];

  constructor(options: HttpGatewayOptions) {
    this.#o = options;
    this.#logger = options.logger ?? nullLogger;
    // A JSON body carries bytes as base64 (4/3 of their size), so the body limit sits above the
    // protobuf message limit; the handlers enforce etcd's request size limit on the message.
    this.#bodyBytesMax = options.bodyBytesMax ?? Math.ceil(options.receiveBytesMax * 4 / 3) + 65_536;
    this.#queuedMax = options.streamRequestsQueuedMax ?? DEFAULTS.streamRequestsQueuedMax;
    this.#writeBufferMax = options.streamWriteBufferBytesMax ?? DEFAULTS.streamWriteBufferBytesMax;
    this.#callsMax = options.callsInFlightMax ?? DEFAULTS.callsInFlightMax;
    this.#waitingMax = options.callsWaitingMax ?? DEFAULTS.callsWaitingMax;
    for (const v of [this.#bodyBytesMax, this.#queuedMax, this.#writeBufferMax, this.#callsMax, this.#waitingMax]) {
      assert(Number.isSafeInteger(v) && v > 0, `HttpGateway limit ${v}`);
    }
  }

  /** The request listener for a node:http server. */
  readonly handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    for (const [k, v] of Object.entries(CORS)) res.setHeader(k, v);
    res.on('error', (err) => this.#logger.debug('http response error', { err: String(err) }));
    req.on('error', (err) => this.#logger.debug('http request error', { err: String(err) }));
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method === 'OPTIONS') {
      res.writeHead(200, { 'content-length': 0 }).end();
      req.resume();
      return;
    }
    const prefix = PREFIXES.find((p) => path.startsWith(p));
    if (prefix !== undefined) {
      this.#gateway(req, res, path.slice(prefix.length));
      return;
    }
    req.resume();
    switch (path) {
      case '/health': this.#get(req, res, () => this.#health(res)); return;
      case '/version': this.#get(req, res, () => this.#version(res)); return;
      case '/metrics': this.#get(req, res, () => this.#metrics(res)); return;
      default: plain(res, 404, '404 page not found');
    }
  };

  /** The request listener of a --listen-metrics-urls server: /metrics and /health alone. */
  readonly handleMonitoring = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.on('error', (err) => this.#logger.debug('http response error', { err: String(err) }));
    req.on('error', (err) => this.#logger.debug('http request error', { err: String(err) }));
    req.resume();
    switch ((req.url ?? '/').split('?')[0]) {
      case '/health': this.#get(req, res, () => this.#health(res)); return;
      case '/metrics': this.#get(req, res, () => this.#metrics(res)); return;
      default: plain(res, 404, '404 page not found');
    }
  };

  #get(req: http.IncomingMessage, res: http.ServerResponse, serve: () => void): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET');
      plain(res, 405, 'Method Not Allowed');
      return;
    }
    serve();
  }

  #health(res: http.ServerResponse): void {
    this.#o.endpoints.health().then((h) => {
      if (!h.healthy) this.#logger.warn('/health error', { reason: h.reason ?? '' });
      const body = JSON.stringify({ health: String(h.healthy) });
      res.writeHead(h.healthy ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
    }, (err: unknown) => {
      this.#logger.warn('/health error', { reason: String(err) });
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end('{"health":"false"}');
    });
  }

  #version(res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify(this.#o.endpoints.version()));
  }

  #metrics(res: http.ServerResponse): void {
    this.#o.endpoints.metrics().then((m) => {
      res.writeHead(200, { 'content-type': m.contentType }).end(m.body);
    }, (err: unknown) => {
      this.#logger.error('metrics collection failed', { err: String(err) });
      plain(res, 500, 'metrics collection failed');
    });
  }

  #gateway(req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
    const route = this.#o.routes.get(path);
    if (route === undefined) {
      req.resume();
      plain(res, 404, 'Not Found');
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      plain(res, 405, 'Method Not Allowed');
      return;
    }
    const method = this.#o.lookup(route.service, route.method);
    const call = new HttpCall(req, res, route, metadataOf(req.headers, route.service, route.method),
      { queuedMax: this.#queuedMax, writeBufferMax: this.#writeBufferMax, logger: this.#logger });
    if (method === undefined) {
      req.resume();
      call.finish(new GrpcStatusError(Status.UNIMPLEMENTED,
        `unknown method ${route.method} for service ${route.service}`));
      return;
    }
    if (this.#callsInFlight < this.#callsMax) {
      this.#run(res, () => this.#call(req, call, route, method));
    } else if (this.#waiting.length < this.#waitingMax) {
      this.#waiting.push({ res, start: () => this.#call(req, call, route, method) });
    } else {
      req.resume();
      call.finish(new GrpcStatusError(Status.UNAVAILABLE,
        `too many gateway calls waiting (${this.#waitingMax})`));
    }
  }

  /** Takes a slot for the call, given back once its response is over (or its client gone). */
  #run(res: http.ServerResponse, start: () => void): void {
    this.#callsInFlight++;
    res.once('close', this.#release);
    start();
  }

  readonly #release = (): void => {
    this.#callsInFlight--;
    while (this.#callsInFlight < this.#callsMax) {
      const next = this.#waiting.shift();
      if (next === undefined) return;
      const socket = next.res.socket;
      const gone = next.res.destroyed || next.res.writableEnded || socket === null || socket.destroyed;
      if (!gone) this.#run(next.res, next.start);
    }
  };

  #call(req: http.IncomingMessage, call: HttpCall, route: HttpGatewayRoute, method: MethodDefinition): void {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.#bodyBytesMax) {
      this.#tooLarge(req, call, declared);
      return;
    }
    if (method.kind === 'bidi') {
      call.runBidi(method, this.#bodyBytesMax);
      return;
    }
    readBody(req, this.#bodyBytesMax).then((body) => {
      if (typeof body === 'number') {
        this.#tooLarge(req, call, body);
        return;
      }
      let request: unknown;
      try {
        const text = body.toString('utf8');
        request = route.request.fromJson(text.trim() === '' ? {} : parseJsonExact(text));
      } catch (err) {
        call.finish(isGrpcStatus(err) ? err : jsonSyntaxError(err));
        return;
      }
      call.runSingle(method, request);
    }, (err: unknown) => call.finish(new GrpcStatusError(Status.UNKNOWN, String(err))));
  }

  #tooLarge(req: http.IncomingMessage, call: HttpCall, bytes: number): void {
    call.closeAfter();
    req.resume();
    call.finish(new GrpcStatusError(Status.RESOURCE_EXHAUSTED,
      `grpc: received message larger than max (${bytes} vs. ${this.#o.receiveBytesMax})`));
  }
}

function plain(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff',
  }).end(`${text}\n`);
}

/** The whole body, or its size so far once it passes `max` (reading stops there). */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | number> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        req.off('data', onData);
        resolve(size);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

/**
 * Splits a byte stream into top-level JSON values by brace depth, outside strings: what Go's
 * json.Decoder does with grpc-gateway's streaming request bodies.
 */
export class JsonObjectSplitter {
  readonly #max: number;
  readonly #decoder = new TextDecoder('utf-8');
  #text = '';
  #scan = 0;
  #depth = 0;
  #inString = false;
  #escape = false;

  constructor(objectBytesMax: number) {
    assert(objectBytesMax > 0, 'objectBytesMax must be positive');
    this.#max = objectBytesMax;
  }

  /** Feeds bytes; calls `emit` with each complete object's text; returns an error, if any. */
  push(chunk: Uint8Array, emit: (text: string) => void): GrpcStatus | undefined {
    this.#text += this.#decoder.decode(chunk, { stream: true });
    const t = this.#text;
    let start = 0;
    for (let i = this.#scan; i < t.length; i++) {
      const c = t.charCodeAt(i);
      if (this.#inString) {
        if (this.#escape) this.#escape = false;
        else if (c === 0x5c) this.#escape = true;
        else if (c === 0x22) this.#inString = false;
      } else if (this.#depth === 0) {
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
          start = i + 1;
        } else if (c === 0x7b) {
          this.#depth = 1;
          start = i;
        } else {
          return new GrpcStatusError(Status.INVALID_ARGUMENT,
            `invalid character '${t[i] ?? ''}' looking for beginning of object`);
        }
      } else if (c === 0x22) {
        this.#inString = true;
      } else if (c === 0x7b || c === 0x5b) {
        this.#depth++;
      } else if (c === 0x7d || c === 0x5d) {
        this.#depth--;
        if (this.#depth === 0) {
          emit(t.slice(start, i + 1));
          start = i + 1;
        }
      }
    }
    this.#text = t.slice(start);
    this.#scan = this.#text.length;
    if (this.#text.length > this.#max) {
      return new GrpcStatusError(Status.RESOURCE_EXHAUSTED,
        `grpc: received message larger than max (${this.#text.length} vs. ${this.#max})`);
    }
    return undefined;
  }

  /** True when no object is half-read. */
  get idle(): boolean {
    return this.#depth === 0 && this.#text.trim() === '';
  }
}

interface CallLimits {
  readonly queuedMax: number;
  readonly writeBufferMax: number;
  readonly logger: Logger;
}

/** One gateway call on one HTTP exchange, shaped like a gRPC call for the handler. */
class HttpCall implements BidiCall<unknown, unknown> {
  readonly metadata: IncomingHttpHeaders;
  readonly #req: http.IncomingMessage;
  readonly #res: http.ServerResponse;
  readonly #route: HttpGatewayRoute;
  readonly #limits: CallLimits;
  readonly #abort = new AbortController();
  #done = false;
  #headersSent = false;
  #requests: RequestQueue | undefined = undefined;

  constructor(req: http.IncomingMessage, res: http.ServerResponse, route: HttpGatewayRoute,
    metadata: IncomingHttpHeaders, limits: CallLimits) {
    this.#req = req;
    this.#res = res;
    this.#route = route;
    this.metadata = metadata;
    this.#limits = limits;
    // The client went away (a watch's only way to end over HTTP): cancel the call.
    res.on('close', () => {
      if (!this.#done) this.#end();
    });
  }

  get signal(): AbortSignal { return this.#abort.signal; }
  get cancelled(): boolean { return this.#done; }

  closeAfter(): void {
    this.#res.shouldKeepAlive = false;
  }

  runSingle(method: MethodDefinition, request: unknown): void {
    if (method.kind === 'unary') {
      this.#settle(async () => {
        const response = await method.handler(request, this);
        if (this.#done) return;
        const body = JSON.stringify(this.#route.response.toJson(response));
        this.#done = true;
        this.#abort.abort();
        this.#res.writeHead(200, {
          'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
        }).end(body);
      });
    } else if (method.kind === 'serverStream') {
      this.#settle(() => method.handler(request, this));
    }
  }

  runBidi(method: MethodDefinition, objectBytesMax: number): void {
    assert(method.kind === 'bidi', 'runBidi takes a bidi method');
    const splitter = new JsonObjectSplitter(objectBytesMax);
    const onObject = (text: string): void => {
      try {
        this.#requestQueue().push(this.#route.request.fromJson(parseJsonExact(text)));
      } catch (err) {
        this.finish(isGrpcStatus(err) ? err : jsonSyntaxError(err));
      }
    };
    this.#req.on('data', (chunk: Buffer) => {
      if (this.#done) return;
      const bad = splitter.push(chunk, onObject);
      if (bad !== undefined) this.finish(bad);
    });
    this.#req.on('end', () => {
      if (this.#done) return;
      if (!splitter.idle) {
        this.finish(new GrpcStatusError(Status.UNKNOWN, 'unexpected EOF'));
        return;
      }
      if (this.#route.holdOpen === true) return;
      this.#requestQueue().end();
    });
    this.#settle(() => method.handler(this));
  }

  #settle(run: () => void | Promise<void>): void {
    let result: void | Promise<void>;
    try {
      result = run();
    } catch (err) {
      this.finish(this.#statusOf(err));
      return;
    }
    Promise.resolve(result).then(() => this.finish(undefined),
      (err: unknown) => this.finish(this.#statusOf(err)));
  }

  write(message: unknown): boolean {
    if (this.#done) return false;
    const res = this.#res;
    if (res.destroyed) return false;
    if (!this.#headersSent) {
      this.#headersSent = true;
      res.writeHead(200, { 'content-type': 'application/json' });
    }
    const more = res.write(`${JSON.stringify({ result: this.#route.response.toJson(message) })}\n`);
    if (res.writableLength > this.#limits.writeBufferMax) {
      this.finish(new GrpcStatusError(Status.RESOURCE_EXHAUSTED,
        `grpc: server stream write buffer over ${this.#limits.writeBufferMax} bytes`));
      return false;
    }
    return more;
  }

  drained(): Promise<void> {
    return drainedOrClosed(this.#res, this.#done);
  }

  get requests(): AsyncIterable<unknown> {
    return this.#requestQueue().requests;
  }

  #requestQueue(): RequestQueue {
    this.#requests ??= new RequestQueue(this.#req, this.#limits.queuedMax);
    return this.#requests;
  }

  #statusOf(err: unknown): GrpcStatus {
    if (isGrpcStatus(err) && err.grpcCode !== Status.OK) return err;
    this.#limits.logger.error('gateway handler failed', {
      err: err instanceof Error ? err.stack ?? err.message : String(err), path: this.metadata[':path'],
    });
    return new GrpcStatusError(Status.UNKNOWN, err instanceof Error ? err.message : String(err));
  }

  /** Ends the call with `status` (undefined = OK) unless it has ended already. */
  finish(status: GrpcStatus | undefined): void {
    if (this.#done) return;
    this.#end();
    const res = this.#res;
    if (res.destroyed || res.writableEnded) return;
    if (status === undefined) {
      if (!this.#headersSent) res.writeHead(200, { 'content-type': 'application/json' });
      res.end();
    } else if (this.#headersSent) {
      res.end(streamErrorLine(status));
    } else {
      const body = errorBody(status);
      res.writeHead(gatewayHttpStatus(status.grpcCode), {
        'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
      }).end(body);
    }
  }

  #end(): void {
    this.#done = true;
    if (!this.#abort.signal.aborted) this.#abort.abort();
    this.#requests?.end();
  }
}
