/**
 * etcd's Watch service: one client stream becomes one watch-hub stream. Client requests go to the
 * hub through the front; the hub's responses come back in batches, are written to the client,
 * and are acknowledged once the transport has taken them (after a `drained()` when it pushed
 * back), which is what bounds a slow client's backlog in the hub. Half-closing the request
 * stream does not end the watch; cancelling the call does. The transport is structural
 * (gRPC bidi call or the HTTP gateway's streaming response), so this file knows neither.
 */
import type * as api from '../../src/api/index.js';
import { watchCreateFromWire, watchResponseToWire } from '../../src/apply/index.js';
import type { FrontActor } from './front-actor.js';

/** What a Watch handler needs of its transport. */
export interface WatchCall {
  readonly requests: AsyncIterable<api.WatchRequest>;
  readonly cancelled: boolean;
  /** Aborted when the client cancels the call or goes away. */
  readonly signal: AbortSignal;
  /** Writes one response; false when the transport's buffer is full. */
  write(response: api.WatchResponse): boolean;
  /** Resolves when the buffer drained or the call ended. */
  drained(): Promise<void>;
}

export function watchService(front: FrontActor): (call: WatchCall) => Promise<void> {
  return async (call) => {
    const streamId = front.openWatchStream((responses) => {
      let full = false;
      for (const r of responses) {
        if (call.cancelled) return;
        if (!call.write(watchResponseToWire(r, front))) full = true;
      }
      if (!full) front.watchAcked(streamId, responses.length);
      else void call.drained().then(() => front.watchAcked(streamId, responses.length));
    });
    try {
      for await (const req of call.requests) {
        if (req.create_request !== undefined) {
          front.watchRequest(streamId, { kind: 'create', request: watchCreateFromWire(req.create_request) });
        } else if (req.cancel_request !== undefined) {
          front.watchRequest(streamId, { kind: 'cancel', watchId: req.cancel_request.watch_id });
        } else if (req.progress_request !== undefined) {
          front.watchRequest(streamId, { kind: 'progress' });
        }
      }
      // A half-close does not end a watch (etcd §4.7.5): the watchers run until the client
      // cancels the call, which is what HTTP/JSON watching relies on.
      await new Promise<void>((resolve) => {
        if (call.signal.aborted) resolve();
        else call.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      front.closeWatchStream(streamId);
    }
  };
}
