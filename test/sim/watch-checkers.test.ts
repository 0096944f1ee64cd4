/**
 * The watch guarantees the simulator judges every watcher by (src/watch/checkers.ts, run from
 * src/sim/sim-watch.ts), on hand-made histories: a faithful watcher passes; a reordered delivery
 * fails "ordered", a repeated event fails "unique", a missing event fails "reliable", a wrong
 * prev_kv fails "prev_kv correct", an event below a bookmark fails "bookmarkable", and a resumed
 * watcher that disagrees with the original fails "resumable". Each failure is a readable line. The
 * simulator's prev_kv check accepts a missing prev_kv only at or below the compaction revision.
 */
import t from 'tap';
import { utf8 } from '../../src/base/index.js';
import { checkPrevKvUpToCompaction } from '../../src/sim/sim-watch.js';
import {
  HistoryModel, WatchRecorder, checkResumable, checkWatch,
  type CommittedBatch, type WatchEvent, type WatchResponse,
} from '../../src/watch/index.js';

const kv = (key: string, value: string, rev: number, version = 1) => ({
  key: utf8(key), value: utf8(value), createRevision: rev - version + 1, modRevision: rev, version, lease: 0n,
});
const put = (key: string, value: string, rev: number): WatchEvent => ({ type: 'PUT', kv: kv(key, value, rev) });
const batches: CommittedBatch[] = [
  { revision: 2, events: [put('k0', 'a', 2)] },
  { revision: 3, events: [put('k1', 'b', 3)] },
  { revision: 4, events: [put('k2', 'c', 4)] },
];
const model = new HistoryModel(batches);
const created: WatchResponse = { watchId: 0, headerRevision: 1, created: true, canceled: false, compactRevision: 0, cancelReason: '', fragment: false, events: [] };
const resp = (rev: number, events: WatchEvent[]): WatchResponse => ({ ...created, created: false, headerRevision: rev, events });

function record(responses: WatchResponse[], prevKv = false) {
  const rec = new WatchRecorder();
  const w = rec.created(1, { key: utf8('k'), rangeEnd: utf8('l'), prevKv });
  rec.received(1, [created, ...responses]);
  return w;
}

t.test('a faithful watcher passes every checker', async (t) => {
  const w = record([resp(2, [put('k0', 'a', 2)]), resp(4, [put('k1', 'b', 3), put('k2', 'c', 4)])]);
  t.same(checkWatch(w, model, 4), []);
});

t.test('reordered, repeated, missing, wrong prev_kv and below-bookmark deliveries fail', async (t) => {
  const reordered = record([resp(3, [put('k1', 'b', 3)]), resp(3, [put('k0', 'a', 2)]), resp(4, [put('k2', 'c', 4)])]);
  t.match(checkWatch(reordered, model, 4).join('\n'), /order|bookmark/);
  const repeated = record([resp(2, [put('k0', 'a', 2)]), resp(2, [put('k0', 'a', 2)]), resp(4, [put('k1', 'b', 3), put('k2', 'c', 4)])]);
  t.match(checkWatch(repeated, model, 4).join('\n'), /twice|duplicate|unique|expected/i);
  const missing = record([resp(2, [put('k0', 'a', 2)]), resp(4, [put('k2', 'c', 4)])]);
  t.match(checkWatch(missing, model, 4).join('\n'), /event #1 is .*, expected/);
  const wrongPrev = record([resp(4, [put('k0', 'a', 2), put('k1', 'b', 3), { ...put('k2', 'c', 4), prevKv: kv('k2', 'zzz', 1) }])], true);
  t.match(checkWatch(wrongPrev, model, 4).join('\n'), /wrong prev_kv/);
  const belowBookmark = record([resp(3, []), resp(3, [put('k0', 'a', 2)])]);
  t.match(checkWatch(belowBookmark, model, 4).join('\n'), /bookmark/);
});

t.test('a resumed watcher that disagrees with the original fails resumable', async (t) => {
  const original = record([resp(2, [put('k0', 'a', 2)]), resp(3, [put('k1', 'b', 3)])]);
  const rec = new WatchRecorder();
  const resumed = rec.created(2, { key: utf8('k'), rangeEnd: utf8('l'), startRevision: 2 });
  rec.received(2, [created, resp(3, [put('k1', 'b', 3)])]);
  t.match(checkResumable(original, resumed).join('\n'), /resumed from 2 differs/);
});

t.test('prev_kv may be missing at or below the compaction revision, and nowhere else', async (t) => {
  const noPrev = record([resp(4, [put('k0', 'a', 2), put('k1', 'b', 3), put('k2', 'c', 4)])], true);
  const redo: CommittedBatch[] = [...batches, { revision: 5, events: [{ type: 'PUT', kv: kv('k0', 'd', 5, 2) }] }];
  const m = new HistoryModel(redo);
  const rec = new WatchRecorder();
  const w = rec.created(3, { key: utf8('k'), rangeEnd: utf8('l'), prevKv: true, startRevision: 5 });
  rec.received(3, [created, resp(5, [{ type: 'PUT', kv: kv('k0', 'd', 5, 2) }])]);
  t.same(checkPrevKvUpToCompaction(w, m, 5), [], 'compacted at 5: the version at 2 is gone');
  t.match(checkPrevKvUpToCompaction(w, m, 4).join('\n'), /wrong prev_kv on 5:/, 'compacted at 4: it must be there');
  t.same(checkPrevKvUpToCompaction(noPrev, model, 0), [], 'first versions have no prev_kv');
});
