/**
 * The watch hub actor's messages. Its inbox: stream lifecycle and client requests from the
 * front, committed change lists from apply, acknowledgements of written responses, its tick.
 * Its outbox: batches of responses per stream to the front.
 */
import type { ChangeSet } from '../../src/mvcc/index.js';
import type { WatchCreateRequest, WatchResponse } from '../../src/watch/index.js';

export type WatchInbox =
  | { readonly type: 'watch.openStream'; readonly streamId: number }
  | { readonly type: 'watch.closeStream'; readonly streamId: number }
  | { readonly type: 'watch.create'; readonly streamId: number; readonly request: WatchCreateRequest }
  | { readonly type: 'watch.cancel'; readonly streamId: number; readonly watchId: number }
  | { readonly type: 'watch.progress'; readonly streamId: number }
  /** The front wrote `count` more responses of the stream to its client. */
  | { readonly type: 'watch.acked'; readonly streamId: number; readonly count: number }
  | { readonly type: 'watch.committed'; readonly changes: readonly ChangeSet[]; readonly revision: number }
  | { readonly type: 'watch.tick' };

export type WatchOutbox =
  | { readonly type: 'front.watchResponses'; readonly streamId: number; readonly responses: readonly WatchResponse[] };
