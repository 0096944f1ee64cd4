/**
 * etcd's Lease service as plain handler functions over the front actor and a read view of the
 * MVCC store (like services.ts); actors/boot.ts registers them with their codecs.
 *
 * - LeaseGrant / LeaseRevoke go through raft (the id is chosen here, before proposing, so every
 *   member applies the same one); their errors come from apply, in etcd's words.
 * - LeaseKeepAlive and LeaseTimeToLive are answered by the lease actor (the leader's deadlines);
 *   attached keys and the lease list are read from the local mvcc env, where apply keeps them.
 * - A keepalive stream is pipelined: every request is sent to the lease actor as it arrives, and
 *   the answers are written in request order, with at most `keepAlivesInFlightMax` outstanding.
 */
import { compareBytes } from '../../src/base/index.js';
import { EtcdError, type EtcdErrorCode } from '../../src/api/index.js';
import type * as api from '../../src/api/index.js';
import { header } from '../../src/apply/index.js';
import { LEASE_TTL_MAX_SECONDS, LeaseIdGenerator } from '../../src/lease/index.js';
import type { MvccStore } from '../../src/mvcc/index.js';
import type { FrontActor } from './front-actor.js';

/** Keepalives of one stream sent to the lease actor and not yet answered, at most. */
export const KEEPALIVES_IN_FLIGHT_MAX = 1024;

/** What a keepalive handler needs of its bidirectional call (the gRPC layer's BidiCall fits). */
export interface KeepAliveCall {
  readonly requests: AsyncIterable<api.LeaseKeepAliveRequest>;
  readonly cancelled: boolean;
  write(message: api.LeaseKeepAliveResponse): boolean;
  drained(): Promise<void>;
}

export interface LeaseServiceDeps {
  readonly front: FrontActor;
  /** The store as this thread reads it (a read-only view of the mvcc env). */
  readonly store: MvccStore;
  /** Server-chosen ids for LeaseGrant with ID 0. */
  readonly ids: LeaseIdGenerator;
}

export function leaseService(d: LeaseServiceDeps) {
  const { front, store } = d;
  const hdr = (revision: number): api.ResponseHeader => header(front, revision);

  const proposed = front.proposeAs.bind(front);

  return {
    async grant(w: api.LeaseGrantRequest): Promise<api.LeaseGrantResponse> {
      // Judged here so that only safe integers reach the log; apply raises small TTLs to the
      // minimum and judges the id.
      if (w.TTL > LEASE_TTL_MAX_SECONDS) throw new EtcdError('ErrLeaseTTLTooLarge');
      if (front.alarms.some((a) => a.alarm === 'NOSPACE')) throw new EtcdError('ErrNoSpace');
      const id = w.ID !== 0n ? w.ID : d.ids.next();
      const ttlSeconds = w.TTL > 0 ? w.TTL : 0;
      const r = await proposed({ kind: 'leaseGrant', id, ttlSeconds }, 'leaseGrant');
      return { header: hdr(r.revision), ID: r.id, TTL: r.ttlSeconds, error: '' };
    },

    async revoke(w: api.LeaseRevokeRequest): Promise<api.LeaseRevokeResponse> {
      const r = await proposed({ kind: 'leaseRevoke', id: w.ID }, 'leaseRevoke');
      return { header: hdr(r.revision) };
    },

    async timeToLive(w: api.LeaseTimeToLiveRequest): Promise<api.LeaseTimeToLiveResponse> {
      const a = await front.leaseRequest('timeToLive', w.ID);
      const found = a.ttlSeconds !== -1;
      const keys = found && w.keys
        ? store.read((view) => view.keysOfLease(w.ID).map((k) => k.slice())).sort(compareBytes)
        : [];
      return {
        header: hdr(store.state().current), ID: w.ID, TTL: a.ttlSeconds,
        grantedTTL: a.grantedTtlSeconds, keys,
      };
    },

    async leases(): Promise<api.LeaseLeasesResponse> {
      const records = store.read((view) => view.leaseRecords());
      return { header: hdr(store.state().current), leases: records.map((r) => ({ ID: r.id })) };
    },

    /**
     * One keepalive stream: one answer per request, in request order, each written as soon as
     * it and every earlier one are answered (etcd §4.8). A failure such as "no leader" ends the
     * stream with that status at once, without waiting for the client's next request.
     */
    keepAlive(call: KeepAliveCall): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        let written: Promise<void> = Promise.resolve();
        let outstanding = 0;
        let failed = false;
        const fail = (err: unknown): void => {
          if (failed) return;
          failed = true;
          reject(asEtcd(err));
        };
        const loop = async (): Promise<void> => {
          for await (const req of call.requests) {
            if (call.cancelled || failed) return;
            // The header is taken before the renewal, as etcd does.
            const h = hdr(front.revision);
            const answer = front.leaseRequest('renew', req.ID);
            answer.catch(fail);
            outstanding++;
            written = written.then(async () => {
              const a = await answer.catch(() => undefined);
              outstanding--;
              if (a === undefined || failed || call.cancelled) return;
              if (!call.write({ header: h, ID: req.ID, TTL: a.ttlSeconds })) await call.drained();
            });
            if (outstanding >= KEEPALIVES_IN_FLIGHT_MAX) await written;
          }
          await written;
        };
        loop().then(() => { if (!failed) resolve(); }, fail);
      });
    },
  };
}

function asEtcd(err: unknown): unknown {
  if (err instanceof EtcdError) return err;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? new EtcdError(code as EtcdErrorCode) : err;
}

export type LeaseService = ReturnType<typeof leaseService>;
