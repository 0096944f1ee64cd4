/**
 * The TCP peer transport: Raft messages between member processes (the network actor of DESIGN.md
 * for real processes; src/sim/sim-network.ts is its simulated twin). Frames and validation are in
 * peer-codec.ts.
 *
 * Each member dials every other member once and sends on that connection only; it receives on the
 * connections the others dialed to it (etcd's peer streams are one-way too). The dialer opens with
 * a hello naming the cluster, itself and the member it meant to reach; the listener refuses a
 * connection whose hello names another cluster (etcd: "request cluster ID mismatch"), another
 * member, or a member it does not know, and any connection that sends a malformed, oversized or
 * misaddressed frame. A refused peer is logged once per connection, and this member keeps
 * serving.
 *
 * Sending never blocks and never queues without bound: a message to a peer that is not connected,
 * or whose socket already holds PEER_LIMITS.sendBufferBytesMax unsent bytes, is dropped and
 * `send` returns false (the caller tells Raft the peer is unreachable; Raft resends what matters:
 * heartbeats, probes and appends after a rejection). A closed connection is dialed again after a
 * backoff that doubles from redialMinMs to redialMaxMs. The same connections carry the lease
 * questions a follower forwards to the leader and their answers.
 *
 * A snapshot (the keyspace for a follower behind the leader's compacted log) goes on a connection
 * of its own, with backpressure, and the follower's answer comes back on it (SnapshotReceiver).
 * Peer URLs that are https are served and dialed with TLS (`tls`): each end presents its
 * certificate, and verifies the other's unless the material was made by auto TLS.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, createReadStream, fsyncSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { assert, type Logger, type MemberId } from '../../base/index.js';
import type { Message } from '../../raft/index.js';
import type { LeaseAnswerFrame, LeaseRequestFrame, PeerFrame } from '../peer-frames.js';
import { acceptCheck, clientTls, serverTls, type TlsMaterial } from './tls-material.js';
import {
  FRAME_HEADER_BYTES, decodeFrame, decodeHello, decodeSnapFrame, encodeHello, encodeLeaseFrame,
  encodeGone, encodeMessage, encodeSnapFrame, isGone, type Hello, type MessageLimits, type SnapMeta,
} from './peer-codec.js';

/** Named limits of the peer transport. */
export const PEER_LIMITS = {
  /** Unsent bytes on one peer connection before further messages to it are dropped. */
  sendBufferBytesMax: 16 * 1024 * 1024,
  /** First redial delay after a connection fails or closes. */
  redialMinMs: 50,
  /** Longest redial delay. */
  redialMaxMs: 1_000,
  /** A reason for refusing peer connections is logged at most once per this many ms. */
  refusalLogIntervalMs: 60_000,
  /** Refusal reasons remembered for that, at most (then forgotten all at once). */
  refusalReasonsMax: 256,
  /** How long an inbound connection may take to send its hello. */
  helloTimeoutMs: 5_000,
  /** Inbound connections open at once (each live peer holds one; the rest are strays or attacks). */
  inboundConnectionsMax: 64,
  /** Bytes of keyspace per snapshot frame. */
  snapshotChunkBytes: 1024 * 1024,
  /** How long a snapshot's sender waits for the follower's answer once everything is sent. */
  snapshotAckTimeoutMs: 60_000,
} as const;

export interface PeerAddress {
  readonly host: string;
  readonly port: number;
  /** An https (or unixs) peer URL: the connection is TLS (with the transport's `tls` material). */
  readonly tls?: boolean;
  /** A unix:// or unixs:// peer URL: the socket file (etcd takes the URL's host:port as its path). */
  readonly path?: string;
}

/** The socket options of `a`: a unix socket's path, or host and port. */
function endpointOf(a: PeerAddress): { path: string } | { host: string; port: number } {
  return a.path !== undefined ? { path: a.path } : { host: a.host, port: a.port };
}

/** Listens on `a`; a unix socket's stale file is removed first, as etcd's NewUnixListener does. */
function listenOn(server: Server, a: PeerAddress, done: () => void): void {
  if (a.path !== undefined) {
    rmSync(a.path, { force: true });
    server.listen(a.path, done);
  } else {
    server.listen(a.port, a.host, done);
  }
}

export interface PeerTransportOptions {
  readonly selfId: bigint;
  readonly clusterId: bigint;
  readonly listen: PeerAddress;
  /** This member's advertised client URLs, name and peer URLs, told to every peer in the hello. */
  readonly clientUrls: readonly string[];
  readonly name?: string;
  readonly peerUrls?: readonly string[];
  /** A peer said hello: who it is, its name and client URLs. */
  readonly onHello?: (from: bigint, hello: Hello) => void;
  /** Every other member and where it listens (setPeers changes it). */
  readonly peers: ReadonlyMap<bigint, PeerAddress>;
  /**
   * Whether a hello from a member not in `peers` (but naming this cluster and this member) is
   * taken, the member then dialed back at the first peer URL it gave: a member that joined and
   * has no member table yet hears from whichever member leads.
   */
  readonly acceptUnknown?: () => boolean;
  /** Whether `id` is a member the cluster removed: its hello is answered Gone. */
  readonly isRemoved?: (id: bigint) => boolean;
  /** A member told this one it was removed from the cluster (etcd: 410 Gone). */
  readonly onRemoved?: (by: bigint) => void;
  /** A validated frame from a peer, addressed to this member. */
  readonly onFrame: (f: PeerFrame<Message>) => void;
  /** Largest frame payload accepted (a Raft message's entries plus framing). */
  readonly frameBytesMax: number;
  readonly messageLimits: MessageLimits;
  readonly logger: Logger;
  /** Certificate, key and CA for https peer URLs (ours and the peers'). */
  readonly tls?: TlsMaterial;
  /**
   * Receiving snapshots: where the keyspace is written while it arrives, the largest accepted,
   * and what to do with a complete, verified one (null: taken; a string: refused, and why).
   * Without it, snapshot connections are refused.
   */
  readonly snapshots?: {
    readonly dir: string;
    readonly bytesMax: number;
    readonly onSnapshot: (from: bigint, meta: SnapMeta, file: string) => Promise<string | null>;
    /** A snapshot onSnapshot took, once its sender was told: the file is the taker's now. */
    readonly onTaken: (meta: SnapMeta, file: string) => void;
  };
}

/** Where a peer URL (http, https, unix or unixs, with a port) is dialed or listened on. */
export function peerAddressOfUrl(raw: string): PeerAddress {
  const u = new URL(raw);
  if (!['http:', 'https:', 'unix:', 'unixs:'].includes(u.protocol) || u.port === '') throw new Error(`bad peer URL ${raw}`);
  const tls = u.protocol === 'https:' || u.protocol === 'unixs:';
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return u.protocol.startsWith('unix') ? { host, port: Number(u.port), tls, path: u.host } : { host, port: Number(u.port), tls };
}

function sameAddress(a: PeerAddress, b: PeerAddress): boolean {
  return a.host === b.host && a.port === b.port && (a.tls === true) === (b.tls === true) && a.path === b.path;
}

/** Resolves once `socket` drained; rejects if it closes first. */
function drained(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      socket.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      socket.off('drain', onDrain);
      reject(new Error('connection closed'));
    };
    socket.once('drain', onDrain);
    socket.once('close', onClose);
  });
}

/** What a snapshot chunk's frame adds to its data, at most (msgpack array, tag, bin header). */
const SNAP_CHUNK_OVERHEAD_BYTES = 64;

/** Splits a byte stream into length-prefixed frames; null once a frame is over the limit. */
class FrameReader {
  #chunks: Buffer[] = [];
  #buffered = 0;

  constructor(private readonly frameBytesMax: number) {}

  /** Takes a chunk; returns the complete payloads, or a reason to drop the connection. */
  push(chunk: Buffer): Buffer[] | string {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out: Buffer[] = [];
    while (this.#buffered >= FRAME_HEADER_BYTES) {
      const head = this.#peekHeader();
      if (head > this.frameBytesMax) return `frame of ${head} bytes is over the limit of ${this.frameBytesMax}`;
      if (this.#buffered < FRAME_HEADER_BYTES + head) break;
      const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#buffered);
      out.push(all.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + head));
      const rest = all.subarray(FRAME_HEADER_BYTES + head);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#buffered = rest.length;
    }
    return out;
  }

  #peekHeader(): number {
    const first = this.#chunks[0]!;
    if (first.length >= FRAME_HEADER_BYTES) return first.readUInt32BE(0);
    const joined = Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [joined];
    return joined.readUInt32BE(0);
  }
}

/** The outbound connection to one peer. */
class Link {
  #socket: Socket | null = null;
  #connected = false;
  #corked = false;
  #backoffMs: number = PEER_LIMITS.redialMinMs;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;
  /** Whether the last failure was logged (one line per outage, not per redial). */
  #outageLogged = false;

  constructor(
    private readonly to: bigint,
    private readonly address: PeerAddress,
    private readonly hello: Buffer,
    private readonly logger: Logger,
    private readonly tls: TlsMaterial | undefined,
    private readonly onGone?: (by: bigint) => void,
  ) {}

  dial(): void {
    if (this.#closed) return;
    const { host, port } = this.address;
    const secure = this.address.tls === true;
    assert(!secure || this.tls !== undefined, 'an https peer is dialed with TLS material');
    const at = endpointOf(this.address);
    const socket = secure ? tlsConnect({ ...clientTls(this.tls!, host), ...at }) : connect(at);
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on(secure ? 'secureConnect' : 'connect', () => {
      this.#connected = true;
      this.#backoffMs = PEER_LIMITS.redialMinMs;
      if (this.#outageLogged) this.logger.info('peer connection restored', { peer: this.to.toString(16) });
      this.#outageLogged = false;
      socket.write(this.hello);
    });
    // The listener writes on a connection it did not dial only to say this member was removed
    // from the cluster (Gone); anything else is a stray.
    const reader = new FrameReader(FRAME_HEADER_BYTES + 64);
    socket.on('data', (chunk: Buffer) => {
      const frames = reader.push(chunk);
      if (typeof frames !== 'string' && frames.length === 0) return;
      if (typeof frames !== 'string' && isGone(frames[0]!)) this.onGone?.(this.to);
      socket.destroy();
    });
    socket.on('error', (err) => {
      if (!this.#outageLogged) {
        this.logger.warn('peer unreachable', { peer: this.to.toString(16), error: err.message });
        this.#outageLogged = true;
      }
    });
    socket.on('close', () => {
      this.#connected = false;
      this.#socket = null;
      if (this.#closed) return;
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.dial();
      }, this.#backoffMs);
      this.#backoffMs = Math.min(this.#backoffMs * 2, PEER_LIMITS.redialMaxMs);
    });
  }

  send(frame: Buffer): boolean {
    const socket = this.#socket;
    if (!this.#connected || socket === null) return false;
    if (socket.writableLength > PEER_LIMITS.sendBufferBytesMax) return false;
    // Raft sends a Ready's messages together: one write (writev) for all of them.
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      queueMicrotask(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    socket.write(frame);
    return true;
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#socket?.destroy();
  }
}

/** What a member joining a running cluster (after MemberAdd) waits for. */
export interface JoinOptions {
  readonly listen: PeerAddress;
  readonly tls?: TlsMaterial;
  readonly logger: Logger;
  /** Why a hello cannot be the cluster's (it names no member this one was told of), or null. */
  readonly check: (hello: Hello) => string | null;
}

/**
 * A member joining a running cluster learns who it is from the cluster: once MemberAdd applied,
 * every member dials the new member's peer URL, and the first 'raft' hello that passes `check`
 * names the cluster id, this member's id (its `to`) and a member to answer (its `from`, with its
 * peer URLs). etcd's joiner asks the peers in --initial-cluster instead; the ids are the same.
 * Listens until then; the connection is closed (the dialer redials the member's transport).
 */
export function awaitJoinHello(o: JoinOptions): Promise<Hello> {
  assert(o.listen.tls !== true || o.tls !== undefined, 'an https peer URL is served with TLS material');
  const server = o.listen.tls === true ? createTlsServer(serverTls(o.tls!, [])) : createServer();
  const sockets = new Set<Socket>();
  return new Promise<Hello>((resolve, reject) => {
    server.on(o.listen.tls === true ? 'secureConnection' : 'connection', (socket: Socket) => {
      sockets.add(socket);
      const reader = new FrameReader(HELLO_FRAME_BYTES_MAX);
      const timer = setTimeout(() => socket.destroy(), PEER_LIMITS.helloTimeoutMs);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(timer);
        sockets.delete(socket);
      });
      socket.on('data', (chunk: Buffer) => {
        const frames = reader.push(chunk);
        if (typeof frames === 'string' || frames.length === 0) {
          if (typeof frames === 'string') socket.destroy();
          return;
        }
        const hello = decodeHello(frames[0]!);
        const why = typeof hello === 'string' ? hello : hello.purpose !== 'raft' ? 'not a raft connection' : o.check(hello);
        socket.destroy();
        if (why !== null || typeof hello === 'string') {
          o.logger.warn('refused a peer connection while joining', { why });
          return;
        }
        for (const other of sockets) other.destroy();
        server.close(() => resolve(hello));
      });
    });
    server.once('error', reject);
    listenOn(server, o.listen, () => {
      o.logger.info('joining: waiting for the cluster to reach this member (after MemberAdd)', {
        listen: o.listen.path ?? `${o.listen.host}:${o.listen.port}`,
      });
    });
  });
}

/** A hello is small: ids, a few URLs and a name. */
const HELLO_FRAME_BYTES_MAX = 64 * 1024;

export class PeerTransport {
  readonly #o: PeerTransportOptions;
  readonly #links = new Map<bigint, Link>();
  readonly #server: Server;
  readonly #inbound = new Set<Socket>();
  /** Snapshot connections this member dialed. */
  readonly #outbound = new Set<Socket>();
  #closed = false;

  /** Where every other member listens (changes with the membership). */
  #peers = new Map<bigint, PeerAddress>();

  private constructor(o: PeerTransportOptions, server: Server) {
    this.#o = o;
    this.#server = server;
    this.#setLinks(o.peers, false);
  }

  /**
   * The membership changed: links to new members are dialed, links to members that moved are
   * redialed at their new address, links to removed members close (and their connections are
   * refused from now on).
   */
  setPeers(peers: ReadonlyMap<bigint, PeerAddress>): void {
    if (this.#closed) return;
    this.#setLinks(peers, true);
  }

  #setLinks(peers: ReadonlyMap<bigint, PeerAddress>, dial: boolean): void {
    const o = this.#o;
    for (const [id, link] of this.#links) {
      const next = peers.get(id);
      const was = this.#peers.get(id);
      if (next !== undefined && was !== undefined && sameAddress(next, was)) continue;
      link.close();
      this.#links.delete(id);
    }
    this.#peers = new Map(peers);
    for (const [id, address] of peers) {
      assert(id !== o.selfId, 'the peers do not include this member');
      if (this.#links.has(id)) continue;
      const hello = encodeHello({
        clusterId: o.clusterId, from: o.selfId as MemberId, to: id as MemberId, clientUrls: o.clientUrls,
        purpose: 'raft', name: o.name ?? '', peerUrls: o.peerUrls ?? [],
      });
      const link = new Link(id, address, hello, o.logger, o.tls, o.onRemoved);
      this.#links.set(id, link);
      if (dial) link.dial();
    }
  }

  /** Listens on `options.listen` and starts dialing every peer. */
  static async start(o: PeerTransportOptions): Promise<PeerTransport> {
    assert(o.frameBytesMax > 2 * SNAP_CHUNK_OVERHEAD_BYTES, 'frames hold more than their overhead');
    assert(o.listen.tls !== true || o.tls !== undefined, 'an https peer URL is served with TLS material');
    const server = o.listen.tls === true ? createTlsServer(serverTls(o.tls!, [])) : createServer();
    const transport = new PeerTransport(o, server);
    const refuse = o.listen.tls === true ? acceptCheck(o.tls!) : undefined;
    server.on(o.listen.tls === true ? 'secureConnection' : 'connection', (socket: Socket) => {
      const why = refuse?.(socket as TLSSocket) ?? null;
      if (why === null) return transport.#accept(socket);
      o.logger.warn('refused a peer connection', { why });
      socket.destroy();
    });
    server.on('tlsClientError', (err: Error) => o.logger.warn('refused a peer connection', { why: `TLS: ${err.message}` }));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      listenOn(server, o.listen, () => {
        server.off('error', reject);
        resolve();
      });
    });
    for (const link of transport.#links.values()) link.dial();
    return transport;
  }

  /** When each refusal reason was last logged, and how many went unlogged since (bounded). */
  readonly #refusals = new Map<string, { at: number; quiet: number }>();

  /**
   * A refused connection is logged once per reason every PEER_LIMITS.refusalLogIntervalMs: a peer
   * that keeps redialing (every second at most) would otherwise fill the log.
   */
  #logRefusal(why: string, remote: string): void {
    const now = Date.now();
    const seen = this.#refusals.get(why);
    if (seen !== undefined && now - seen.at < PEER_LIMITS.refusalLogIntervalMs) {
      seen.quiet++;
      return;
    }
    if (seen === undefined && this.#refusals.size >= PEER_LIMITS.refusalReasonsMax) this.#refusals.clear();
    this.#o.logger.warn('refused a peer connection', { remote, why, ...(seen !== undefined && { alsoRefusedSinceLastLog: seen.quiet }) });
    this.#refusals.set(why, { at: now, quiet: 0 });
  }

  /** The port actually bound (when 0 was asked for). */
  get port(): number {
    const a = this.#server.address();
    assert(a !== null && typeof a === 'object', 'peer listener is bound');
    return a.port;
  }

  /** Sends `m` to `m.to`; false when it was dropped (peer not connected or too far behind). */
  send(m: Message): boolean {
    const link = this.#links.get(m.to);
    if (link === undefined || this.#closed) return false;
    return link.send(encodeMessage(m));
  }

  /** Sends a lease frame to `f.to`; false when it was dropped. */
  sendLease(f: LeaseRequestFrame | LeaseAnswerFrame): boolean {
    const link = this.#links.get(f.to);
    if (link === undefined || this.#closed) return false;
    return link.send(encodeLeaseFrame(f));
  }

  /**
   * Streams the keyspace in `file` to member `to` as a Raft snapshot with `meta`, on a connection
   * of its own; resolves null once the follower took it, or why it did not.
   */
  async sendSnapshot(to: bigint, meta: Omit<SnapMeta, 'bytes'>, file: string): Promise<string | null> {
    const o = this.#o;
    const address = this.#peers.get(to);
    if (address === undefined || this.#closed) return 'unknown member';
    const secure = address.tls === true;
    const socket = secure
      ? tlsConnect({ ...clientTls(o.tls!, address.host), ...endpointOf(address) })
      : connect(endpointOf(address));
    this.#outbound.add(socket);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answer = new Promise<string | null>((resolve) => {
      const reader = new FrameReader(o.frameBytesMax);
      socket.on('data', (chunk: Buffer) => {
        const frames = reader.push(chunk);
        const first = typeof frames === 'string' ? frames : frames[0];
        if (first === undefined) return;
        const f = typeof first === 'string' ? first : decodeSnapFrame(first);
        resolve(typeof f === 'string' ? f : f.kind !== 'ack' ? `unexpected ${f.kind}` : f.ok ? null : f.why);
      });
      socket.on('error', (err) => resolve(err.message));
      socket.on('close', () => resolve('connection closed'));
    });
    try {
      await once(socket, secure ? 'secureConnect' : 'connect');
      const bytes = statSync(file).size;
      socket.write(encodeHello({
        clusterId: o.clusterId, from: o.selfId as MemberId, to: to as MemberId, clientUrls: o.clientUrls,
        purpose: 'snapshot', name: o.name ?? '', peerUrls: o.peerUrls ?? [],
      }));
      socket.write(encodeSnapFrame({ kind: 'meta', ...meta, bytes }));
      const hash = createHash('sha256');
      // Chunks fit a frame (members share their limits): the payload plus a few bytes of msgpack.
      const chunkBytes = Math.min(PEER_LIMITS.snapshotChunkBytes, o.frameBytesMax - SNAP_CHUNK_OVERHEAD_BYTES);
      for await (const chunk of createReadStream(file, { highWaterMark: chunkBytes })) {
        const data = chunk as Buffer;
        hash.update(data);
        if (socket.destroyed) return await answer;
        if (!socket.write(encodeSnapFrame({ kind: 'chunk', data }))) await drained(socket);
      }
      socket.write(encodeSnapFrame({ kind: 'end', sha256: hash.digest() }));
      const late = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('no answer in time'), PEER_LIMITS.snapshotAckTimeoutMs);
      });
      return await Promise.race([answer, late]);
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    } finally {
      clearTimeout(timer);
      socket.destroy();
      this.#outbound.delete(socket);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const link of this.#links.values()) link.close();
    for (const socket of this.#inbound) socket.destroy();
    for (const socket of this.#outbound) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    const o = this.#o;
    if (this.#closed || this.#inbound.size >= PEER_LIMITS.inboundConnectionsMax) {
      socket.destroy();
      return;
    }
    this.#inbound.add(socket);
    socket.setNoDelay(true);
    const reader = new FrameReader(o.frameBytesMax);
    let from: bigint | null = null;
    let receiver: SnapshotReceiver | null = null;
    const refuse = (why: string): void => {
      this.#logRefusal(why, `${socket.remoteAddress}:${socket.remotePort}`);
      socket.destroy();
    };
    const helloTimer = setTimeout(() => refuse('no hello in time'), PEER_LIMITS.helloTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      const frames = reader.push(chunk);
      if (typeof frames === 'string') return refuse(frames);
      for (const payload of frames) {
        if (socket.destroyed) return;
        if (from === null) {
          clearTimeout(helloTimer);
          const hello = decodeHello(payload);
          if (typeof hello === 'string') return refuse(hello);
          if (hello.clusterId !== o.clusterId) {
            return refuse(`request cluster ID mismatch (got ${hello.clusterId.toString(16)}, want ${o.clusterId.toString(16)})`);
          }
          if (hello.to !== o.selfId) return refuse(`hello for member ${hello.to.toString(16)}, this is ${o.selfId.toString(16)}`);
          if (!this.#peers.has(hello.from)) {
            const back = hello.peerUrls[0];
            if (o.isRemoved?.(hello.from) === true) {
              o.logger.debug('told a removed member it was removed', { member: hello.from.toString(16) });
              socket.end(encodeGone());
              socket.pause();
              return;
            }
            if (o.acceptUnknown?.() !== true || back === undefined) return refuse(`unknown member ${hello.from.toString(16)}`);
            let address: PeerAddress;
            try {
              address = peerAddressOfUrl(back);
            } catch {
              return refuse(`member ${hello.from.toString(16)} gave a bad peer URL`);
            }
            this.#setLinks(new Map([...this.#peers, [hello.from, address]]), true);
          }
          from = hello.from;
          o.onHello?.(hello.from, hello);
          if (hello.purpose === 'snapshot') {
            if (o.snapshots === undefined) return refuse('this member takes no snapshots');
            receiver = new SnapshotReceiver(socket, from, o.snapshots, refuse);
          }
          continue;
        }
        if (receiver !== null) {
          receiver.frame(payload);
          continue;
        }
        const f = decodeFrame(payload, o.messageLimits);
        if (typeof f === 'string') return refuse(f);
        const ends = f.kind === 'raft' ? f.message : f;
        if (ends.from !== from || ends.to !== o.selfId) {
          return refuse(`frame from ${ends.from.toString(16)} to ${ends.to.toString(16)} on the connection of ${from.toString(16)}`);
        }
        o.onFrame(f);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(helloTimer);
      this.#inbound.delete(socket);
      receiver?.abandon();
    });
  }
}

/**
 * One incoming snapshot: the keyspace written to a file of its own as it arrives (synchronously:
 * frames stay in order, and a snapshot is rare), checked against the announced size and SHA-256,
 * fsynced, then offered to the member; the answer goes back as SnapAck. A refused or broken
 * snapshot's file is removed.
 */
class SnapshotReceiver {
  #meta: SnapMeta | null = null;
  #fd: number | null = null;
  #received = 0;
  readonly #hash = createHash('sha256');
  readonly #file: string;
  #finished = false;

  constructor(
    private readonly socket: Socket,
    private readonly from: bigint,
    private readonly o: NonNullable<PeerTransportOptions['snapshots']>,
    private readonly refuse: (why: string) => void,
  ) {
    this.#file = join(o.dir, `incoming-${from.toString(16)}-${process.pid}.mdb`);
  }

  frame(payload: Uint8Array): void {
    if (this.#finished) return this.#fail('a frame after the end');
    const f = decodeSnapFrame(payload);
    if (typeof f === 'string') return this.#fail(f);
    if (this.#meta === null) {
      if (f.kind !== 'meta') return this.#fail(`${f.kind} before the snapshot's meta`);
      if (f.bytes > this.o.bytesMax) return this.#fail(`a snapshot of ${f.bytes} bytes is over the limit of ${this.o.bytesMax}`);
      const { kind: _, ...meta } = f;
      this.#meta = meta;
      this.#fd = openSync(this.#file, 'w');
      return;
    }
    if (f.kind === 'chunk') {
      this.#received += f.data.length;
      if (this.#received > this.#meta.bytes) return this.#fail('more bytes than announced');
      this.#hash.update(f.data);
      writeSync(this.#fd!, f.data);
      return;
    }
    if (f.kind !== 'end') return this.#fail(`unexpected ${f.kind}`);
    if (this.#received !== this.#meta.bytes) return this.#fail(`${this.#received} bytes of ${this.#meta.bytes}`);
    if (!this.#hash.digest().equals(f.sha256)) return this.#fail('SHA-256 mismatch');
    fsyncSync(this.#fd!);
    closeSync(this.#fd!);
    this.#fd = null;
    this.#finished = true;
    const meta = this.#meta;
    void this.o.onSnapshot(this.from, meta, this.#file).then((why) => {
      if (why !== null) rmSync(this.#file, { force: true });
      // Taken: the file is handed over once the answer went out (or the connection broke).
      if (why === null) this.socket.once('close', () => this.o.onTaken(meta, this.#file));
      this.socket.end(encodeSnapFrame({ kind: 'ack', ok: why === null, why: why ?? '' }));
    });
  }

  /** The connection closed: a snapshot not handed over is thrown away. */
  abandon(): void {
    if (this.#finished) return;
    this.#cleanup();
  }

  #fail(why: string): void {
    this.#cleanup();
    this.#finished = true;
    this.refuse(`snapshot from ${this.from.toString(16)}: ${why}`);
  }

  #cleanup(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
    rmSync(this.#file, { force: true });
  }
}
