/**
 * One client port, two protocols, as etcd serves it (spec §1, etcd's cmux): each new connection
 * is told apart by its first bytes. The HTTP/2 connection preface (`PRI * HTTP/2.0...`, which a
 * gRPC client sends first with prior knowledge) hands the socket to the gRPC server; anything
 * else to a node:http server running the JSON gateway.
 *
 * node:http2's `allowHTTP1` only works with TLS (it decides by ALPN): on a cleartext port an
 * HTTP/1 request fails with HPE_INVALID_CONSTANT (measured on Node 20.20). So the port is a plain
 * net.Server that peeks at the preface, puts the bytes back (`unshift`) and emits `connection` on
 * the right server: the gRPC server's own HTTP/2 connection (h2-connection.ts) gets the socket and
 * the bytes read so far.
 */
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { assert, nullLogger } from '../../base/index.js';
import type { Logger } from '../../base/index.js';
import { H2_PREFACE as PREFACE } from './h2-connection.js';

/** What the port hands an HTTP/2 connection to (GrpcServer.acceptConnection). */
export interface Http2Acceptor {
  /** The socket and the bytes already read from it (the preface first). */
  acceptConnection(socket: Socket, head: Buffer): void;
  close(): Promise<void>;
}

export interface ClientPortOptions {
  readonly grpc: Http2Acceptor;
  readonly http: http.RequestListener;
  readonly logger?: Logger;
  /** A connection that sends nothing for this long before it can be classified is closed. */
  readonly sniffTimeoutMs?: number;
}

/** Whether `head` (the first bytes of a connection) is, or may still become, the h2 preface. */
export function prefaceMatch(head: Uint8Array): 'h2' | 'http1' | 'undecided' {
  const n = Math.min(head.length, PREFACE.length);
  for (let i = 0; i < n; i++) if (head[i] !== PREFACE[i]) return 'http1';
  return n === PREFACE.length ? 'h2' : 'undecided';
}

export class ClientPort {
  /** One listener per client URL (etcd serves several, cleartext and TLS side by side). */
  readonly #servers: net.Server[] = [];
  readonly #http: http.Server;
  readonly #grpc: Http2Acceptor;
  readonly #logger: Logger;
  readonly #sniffTimeoutMs: number;
  readonly #sockets = new Set<Socket>();

  constructor(options: ClientPortOptions) {
    this.#grpc = options.grpc;
    this.#logger = options.logger ?? nullLogger;
    this.#sniffTimeoutMs = options.sniffTimeoutMs ?? 30_000;
    assert(this.#sniffTimeoutMs > 0, 'sniffTimeoutMs must be positive');
    // No request timeout: a watch over HTTP lasts as long as its client wants (etcd sets none).
    this.#http = http.createServer({ requestTimeout: 0 }, options.http);
    this.#http.on('clientError', (err, socket) => {
      this.#logger.debug('http client error', { err: String(err) });
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  /**
   * Listens on one more address and resolves with the bound port (pass 0 for any free port).
   * With `tls` the connections are TLS, told apart after the handshake the same way. ALPN
   * prefers http/1.1: a client offering both (curl) gets HTTP/1 and the JSON gateway, as etcd
   * serves it; gRPC clients offer h2 alone and get it. `refuse` (the CRL check) may close a TLS
   * connection after its handshake, saying why.
   */
  listen(
    port: number, host: string, tlsOptions?: tls.TlsOptions,
    refuse?: (socket: tls.TLSSocket) => string | null,
  ): Promise<number> {
    const server = tlsOptions === undefined
      ? net.createServer((socket) => this.#sniff(socket))
      : tls.createServer({ ...tlsOptions, ALPNProtocols: ['http/1.1', 'h2'] }, (socket) => {
        const why = refuse?.(socket) ?? null;
        if (why === null) return this.#sniff(socket);
        this.#logger.warn('refused a client connection', { why, remote: socket.remoteAddress });
        socket.destroy();
      });
    if (tlsOptions !== undefined) {
      server.on('tlsClientError', (err: Error) => this.#logger.debug('client TLS handshake failed', { err: String(err) }));
    }
    this.#servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  /** Stops accepting and closes every connection of both protocols. */
  async close(): Promise<void> {
    const closed = Promise.all(this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.#http.closeAllConnections();
    for (const s of this.#sockets) s.destroy();
    await Promise.all([closed, this.#grpc.close(),
      new Promise<void>((resolve) => this.#http.close(() => resolve()))]);
  }

  #sniff(socket: Socket): void {
    socket.setNoDelay(true);
    this.#sockets.add(socket);
    let head: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), this.#sniffTimeoutMs);
    timer.unref();
    const done = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      this.#sockets.delete(socket);
    };
    const onClose = (): void => done();
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const kind = prefaceMatch(head);
      if (kind === 'undecided') return;
      socket.off('data', onData);
      socket.pause();
      done();
      if (kind === 'h2') {
        this.#grpc.acceptConnection(socket, head);
        socket.resume();
        return;
      }
      socket.unshift(head);
      this.#http.emit('connection', socket);
      socket.resume();
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', (err) => this.#logger.debug('client socket error', { err: String(err) }));
  }
}
