/**
 * A raw gRPC call over node:http2, for bad-input tests that no well-behaved client can send:
 * garbage bodies, wrong content types, truncated frames, oversized messages.
 */
import { connect, constants, type ClientHttp2Session } from 'node:http2';

export interface RawResult {
  /** HTTP status, or 0 if the stream was reset before headers. */
  readonly status: number;
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string | undefined;
  /** The RST_STREAM code when the server reset the stream. */
  readonly resetCode: number | undefined;
  readonly body: Buffer;
}

export function frame(message: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

export async function rawCall(session: ClientHttp2Session, path: string, body: Buffer,
  headers: Record<string, string> = {}): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers,
    });
    let status = 0;
    let grpcStatus: number | undefined;
    let grpcMessage: string | undefined;
    const chunks: Buffer[] = [];
    const read = (h: Record<string, unknown>): void => {
      if (h['grpc-status'] !== undefined) grpcStatus = Number(h['grpc-status']);
      if (h['grpc-message'] !== undefined) grpcMessage = decodeURIComponent(String(h['grpc-message']));
    };
    req.on('response', (h) => {
      status = Number(h[':status']);
      read(h);
    });
    req.on('trailers', read);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => { /* a reset; reported through rstCode on close */ });
    req.on('close', () => {
      const resetCode = req.rstCode !== undefined && req.rstCode !== constants.NGHTTP2_NO_ERROR ? req.rstCode : undefined;
      resolve({ status, grpcStatus, grpcMessage, resetCode, body: Buffer.concat(chunks) });
    });
    req.on('aborted', () => reject(new Error('aborted')));
    req.end(body);
  });
}

export function openSession(endpoint: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = connect(`http://${endpoint}`);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}
