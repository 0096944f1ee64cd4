/**
 * gRPC over HTTP/2 framing details for the server in grpc-server.ts: the 5-byte length prefix of
 * every message, the `grpc-timeout` header, and the percent-encoding of `grpc-message`. Messages
 * and codes follow grpc-go's server, since etcd is a grpc-go server.
 */

/** gRPC status codes used by the transport itself. */
export const Status = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14,
} as const;

/** A status a call ends with; handlers may throw any object of this shape (EtcdError does). */
export interface GrpcStatus {
  readonly grpcCode: number;
  readonly message: string;
}

export class GrpcStatusError extends Error implements GrpcStatus {
  override readonly name = 'GrpcStatusError';
  constructor(readonly grpcCode: number, message: string) {
    super(message);
  }
}

export function isGrpcStatus(e: unknown): e is GrpcStatus {
  return typeof e === 'object' && e !== null
    && typeof (e as { grpcCode?: unknown }).grpcCode === 'number'
    && Number.isInteger((e as { grpcCode: number }).grpcCode)
    && typeof (e as { message?: unknown }).message === 'string';
}

export const FRAME_HEADER_BYTES = 5;

/** Prefixes an encoded message with its gRPC frame header (uncompressed). */
export function frameMessage(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out[0] = 0;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Whether `chunk` is exactly one whole uncompressed frame within the size limit: a message the
 * Deframer would hand over as it is, with nothing left buffered (anything else goes through it).
 */
export function isOneFrame(chunk: Buffer, receiveBytesMax: number): boolean {
  if (chunk.length < FRAME_HEADER_BYTES || chunk[0] !== 0) return false;
  const length = chunk.readUInt32BE(1);
  return length === chunk.length - FRAME_HEADER_BYTES && length <= receiveBytesMax;
}

/**
 * Splits the request body into messages as chunks arrive. A message inside one chunk is handed
 * over as a view of that chunk (node never reuses chunk buffers); one spread over chunks is
 * assembled into a buffer allocated once at its announced length, after that length has been
 * checked against the receive limit.
 */
export class Deframer {
  readonly #receiveBytesMax: number;
  /** Only for a frame header split across chunks; allocated on first need. */
  #header: Buffer | undefined = undefined;
  #headerFill = 0;
  #body: Buffer | undefined = undefined;
  #bodyFill = 0;

  constructor(receiveBytesMax: number) {
    this.#receiveBytesMax = receiveBytesMax;
  }

  /** True when no partial message is buffered. */
  get idle(): boolean {
    return this.#headerFill === 0 && this.#body === undefined;
  }

  /**
   * Feeds a chunk; calls `onMessage` (with `this` = `target`, so a caller needs no closure per
   * call) per complete message; returns a status on a bad frame.
   */
  push<T>(chunk: Buffer, onMessage: (this: T, message: Buffer) => void, target?: T):
    GrpcStatus | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.#body !== undefined) {
        i = this.#fillBody(chunk, i, onMessage, target);
        continue;
      }
      let flag: number;
      let length: number;
      if (this.#headerFill === 0 && chunk.length - i >= FRAME_HEADER_BYTES) {
        flag = chunk[i] as number;
        length = chunk.readUInt32BE(i + 1);
        i += FRAME_HEADER_BYTES;
      } else {
        const n = Math.min(FRAME_HEADER_BYTES - this.#headerFill, chunk.length - i);
        this.#header ??= Buffer.alloc(FRAME_HEADER_BYTES);
        chunk.copy(this.#header, this.#headerFill, i, i + n);
        this.#headerFill += n;
        i += n;
        if (this.#headerFill < FRAME_HEADER_BYTES) break;
        this.#headerFill = 0;
        flag = this.#header[0] as number;
        length = this.#header.readUInt32BE(1);
      }
      const bad = this.#checkHeader(flag, length);
      if (bad !== undefined) return bad;
      if (chunk.length - i >= length) {
        onMessage.call(target as T, chunk.subarray(i, i + length));
        i += length;
      } else {
        this.#body = Buffer.allocUnsafe(length);
        this.#bodyFill = 0;
      }
    }
    return undefined;
  }

  #fillBody<T>(chunk: Buffer, i: number, onMessage: (this: T, message: Buffer) => void,
    target: T | undefined): number {
    const body = this.#body as Buffer;
    const n = Math.min(body.length - this.#bodyFill, chunk.length - i);
    chunk.copy(body, this.#bodyFill, i, i + n);
    this.#bodyFill += n;
    if (this.#bodyFill === body.length) {
      this.#body = undefined;
      onMessage.call(target as T, body);
    }
    return i + n;
  }

  #checkHeader(flag: number, length: number): GrpcStatus | undefined {
    if (flag === 1) {
      return new GrpcStatusError(Status.INTERNAL,
        'grpc: compressed flag set with identity or empty encoding');
    }
    if (flag !== 0) {
      return new GrpcStatusError(Status.INTERNAL,
        `grpc: received unexpected payload format ${flag}`);
    }
    if (length > this.#receiveBytesMax) {
      return new GrpcStatusError(Status.RESOURCE_EXHAUSTED,
        `grpc: received message larger than max (${length} vs. ${this.#receiveBytesMax})`);
    }
    return undefined;
  }
}

const TIMEOUT_UNITS_MS: Readonly<Record<string, number>> = {
  H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000_001,
};

/**
 * Parses a `grpc-timeout` value (1 to 8 digits and a unit) to milliseconds; undefined if absent,
 * a status if malformed (grpc-go answers Internal "transport: malformed grpc-timeout").
 */
export function parseGrpcTimeout(value: string | undefined): number | GrpcStatus | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  const unit = m?.[2] === undefined ? undefined : TIMEOUT_UNITS_MS[m[2]];
  if (m === null || unit === undefined) {
    return new GrpcStatusError(Status.INTERNAL,
      `transport: malformed grpc-timeout: ${JSON.stringify(value)}`);
  }
  return Number(m[1]) * unit;
}

/** Percent-encodes a status message as the gRPC spec asks (UTF-8, outside 0x20-0x7E and '%'). */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte < 0x20 || byte > 0x7e || byte === 0x25
      ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
      : String.fromCharCode(byte);
  }
  return out;
}
