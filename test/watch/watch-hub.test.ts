/**
 * WatchHub, one test per rule of etcd's Watch (spec §4.7, etcd-observed "Watch stream") and of
 * strata's two extensions. Each test drives a hub through the harness (a model store feeding
 * both the hub and a MemoryHistory), drains the responses and asserts what a client would see;
 * most also run every named guarantee checker over the recorded run.
 */
import t from 'tap';
import { prefixEnd, utf8 } from '../../src/base/index.js';
import { watchCancelReasons } from '../../src/watch/index.js';
import { Harness, eventIds } from './harness.js';

const k = utf8;
const ZERO = Uint8Array.of(0);

t.test('ids: the first watcher on a stream is 0, then 1, 2, skipping explicit ids', async (t) => {
  const h = new Harness();
  h.open(1);
  h.create(1, { key: k('a') });
  h.create(1, { key: k('a'), watchId: 1 });
  h.create(1, { key: k('a') });
  h.create(1, { key: k('a'), watchId: 7 });
  h.create(1, { key: k('a') });
  const got = h.drain(1);
  t.same(got.map((r) => [r.watchId, r.created, r.canceled]),
    [[0, true, false], [1, true, false], [2, true, false], [7, true, false], [3, true, false]]);
  h.open(2);
  h.create(2, { key: k('a') });
  t.equal(h.drain(2)[0]!.watchId, 0, 'ids are per stream');
});

t.test('a duplicate client-chosen id fails with created+canceled, id -1 and etcd\'s reason',
  async (t) => {
    const h = new Harness();
    h.open(1);
    h.commit([{ put: 'x' }]);
    h.create(1, { key: k('a'), watchId: 5 });
    h.create(1, { key: k('b'), watchId: 5 });
    const [ok, dup] = h.drain(1);
    t.match(ok, { watchId: 5, created: true, canceled: false, headerRevision: 1 });
    t.match(dup, {
      watchId: -1, created: true, canceled: true, headerRevision: 1,
      cancelReason: 'mvcc: duplicate watch ID provided on the WatchStream',
    });
    t.equal(h.hub.streamStats(1).watchers, 1);
  });

t.test('an empty range and a negative start revision fail with etcd\'s reasons', async (t) => {
  const h = new Harness();
  h.open(1);
  h.create(1, { key: k('b'), rangeEnd: k('a') });
  h.create(1, { key: k('b'), rangeEnd: k('b') });
  h.create(1, { key: k('a'), startRevision: -1 });
  h.create(1, { key: k('a') });
  const got = h.drain(1);
  t.same(got.map((r) => r.cancelReason), [watchCancelReasons.rangeEmpty,
    watchCancelReasons.rangeEmpty, watchCancelReasons.compacted, '']);
  t.equal(got[3]!.watchId, 0, 'failed creates consume no id');
});

t.test('live events: one response per revision, header = revision, created first', async (t) => {
  const h = new Harness();
  h.open(1);
  h.create(1, { key: k('a'), rangeEnd: prefixEnd(k('a')) });
  h.commit([{ put: 'a1' }, { put: 'b' }, { put: 'a2' }]);
  h.commit([{ del: 'a1' }]);
  const got = h.drain(1);
  t.equal(got[0]!.created, true);
  t.same(got.slice(1).map((r) => r.headerRevision), [1, 2]);
  t.same(eventIds(got), ['PUT a1@1', 'PUT a2@1', 'DELETE a1@2']);
  t.same(h.violations(), []);
});

t.test('ranges: exact key, prefix, [key, end), key.. with "\\0", and every key', async (t) => {
  const h = new Harness();
  h.open(1);
  const exact = h.create(1, { key: k('ab') })!;
  const prefix = h.create(1, { key: k('ab'), rangeEnd: k('ac') })!;
  const interval = h.create(1, { key: k('ab'), rangeEnd: k('b') })!;
  const from = h.create(1, { key: k('b'), rangeEnd: ZERO })!;
  const all = h.create(1, { key: new Uint8Array(0), rangeEnd: ZERO })!;
  const ff = h.create(1, { key: Uint8Array.of(0xff), rangeEnd: ZERO })!;
  for (const key of ['a', 'ab', 'abc', 'ac', 'b', 'ba', 'zz']) h.commit([{ put: key }]);
  h.commit([{ put: Uint8Array.of(0xff, 1) }]);
  h.settle();
  const keys = (w: typeof exact): string[] => w.responses.flatMap((r) => r.events)
    .map((e) => Buffer.from(e.kv.key).toString('latin1'));
  t.same(keys(exact), ['ab']);
  t.same(keys(prefix), ['ab', 'abc']);
  t.same(keys(interval), ['ab', 'abc', 'ac']);
  t.same(keys(from), ['b', 'ba', 'zz', '\xff\x01']);
  t.same(keys(all), ['a', 'ab', 'abc', 'ac', 'b', 'ba', 'zz', '\xff\x01']);
  t.same(keys(ff), ['\xff\x01']);
  t.same(h.violations(), []);
});

t.test('filters: NOPUT drops puts, NODELETE drops deletes, and nothing is sent if all filtered',
  async (t) => {
    const h = new Harness();
    h.open(1);
    const noPut = h.create(1, { key: k('a'), filters: ['NOPUT'] })!;
    const noDel = h.create(1, { key: k('a'), filters: ['NODELETE'] })!;
    const both = h.create(1, { key: k('a'), filters: ['NOPUT', 'NODELETE'] })!;
    h.commit([{ put: 'a' }]);
    h.commit([{ put: 'a' }]);
    h.commit([{ del: 'a' }]);
    h.settle();
    t.same(eventIds(noPut.responses), ['DELETE a@3']);
    t.same(eventIds(noDel.responses), ['PUT a@1', 'PUT a@2']);
    t.same(both.responses, [], 'no empty event responses');
    t.same(h.violations(), []);
  });

t.test('prev_kv: attached when asked (the value at revision - 1), stripped otherwise',
  async (t) => {
    const h = new Harness();
    h.open(1);
    const withPrev = h.create(1, { key: k('a'), prevKv: true })!;
    const without = h.create(1, { key: k('a') })!;
    h.commit([{ put: 'a', value: 'one' }]);
    h.commit([{ put: 'a', value: 'two' }]);
    h.commit([{ del: 'a' }]);
    // A replay from history obeys the same rule.
    const replay = h.create(1, { key: k('a'), startRevision: 1, prevKv: true })!;
    const replayWithout = h.create(1, { key: k('a'), startRevision: 1 })!;
    h.settle();
    const prevs = (w: typeof without): (string | undefined)[] => w.responses
      .flatMap((r) => r.events).map((e) => e.prevKv && Buffer.from(e.prevKv.value).toString());
    t.same(prevs(withPrev), [undefined, 'one', 'two']);
    t.same(prevs(without), [undefined, undefined, undefined]);
    t.same(prevs(replay), [undefined, 'one', 'two']);
    t.same(prevs(replayWithout), [undefined, undefined, undefined]);
    t.same(h.violations(), []);
  });

t.test('start revision in the past replays history, then goes live without a gap', async (t) => {
  const h = new Harness({ limits: { catchUpEventsMax: 2, catchUpRevisionsMax: 3 } });
  h.open(1);
  for (let i = 0; i < 10; i++) h.commit([{ put: `a${i}` }, { put: `b${i}` }]);
  const w = h.create(1, { key: k('a'), rangeEnd: prefixEnd(k('a')), startRevision: 4 })!;
  t.equal(h.hub.stats().unsynced, 1, 'a watcher with a past start begins unsynced');
  h.commit([{ put: 'a-live' }]);
  h.settle();
  t.same(eventIds(w.responses), [...[3, 4, 5, 6, 7, 8, 9].map((i) => `PUT a${i}@${i + 1}`),
    'PUT a-live@11']);
  t.ok(w.responses.length > 2, 'replayed in bounded batches');
  for (const r of w.responses.slice(0, -1)) t.ok(r.events.length <= 2, 'catch-up batch bound');
  t.equal(h.hub.stats().unsynced, 0);
  t.same(h.violations(), []);
});

t.test('a compacted start revision: created, then a cancel with compact_revision and header 0',
  async (t) => {
    const h = new Harness();
    h.open(1);
    for (let i = 0; i < 5; i++) h.commit([{ put: 'a' }]);
    h.store.history.compact(3);
    h.create(1, { key: k('a'), startRevision: 2 });
    h.create(1, { key: k('a'), startRevision: 3 });
    const got = h.drain(1);
    t.match(got[0], { watchId: 0, created: true, canceled: false, headerRevision: 5 });
    t.match(got[1], { watchId: 0, canceled: true, compactRevision: 3, headerRevision: 0,
      cancelReason: '' });
    t.match(got[2], { watchId: 1, created: true });
    t.same(eventIds(got.slice(3)), ['PUT a@3', 'PUT a@4', 'PUT a@5'],
      'a start equal to the compact revision is served');
    t.same(h.violations(), []);
  });

t.test('a lagging watcher overtaken by compaction is canceled with compact_revision', async (t) => {
  const h = new Harness({ limits: { streamBufferedEventsMax: 2 } });
  h.open(1);
  const w = h.create(1, { key: k('a') })!;
  h.drain(1);
  for (let i = 0; i < 6; i++) h.commit([{ put: 'a' }]);
  t.equal(h.hub.stats().unsynced, 1, 'the unread stream made its watcher fall behind');
  h.store.history.compact(5);
  h.settle();
  t.equal(w.end, 'compacted');
  t.equal(w.compactRevision, 5);
  t.same(h.violations(), []);
});

t.test('cancel: a canceled reply, no events after it; an unknown id gets no reply', async (t) => {
  const h = new Harness();
  h.open(1);
  h.create(1, { key: k('a') });
  h.commit([{ put: 'a' }]);
  h.hub.cancelWatch(1, 0);
  h.hub.cancelWatch(1, 42);
  h.commit([{ put: 'a' }]);
  const got = h.drain(1);
  t.same(got.map((r) => [r.watchId, r.created, r.canceled, r.events.length]),
    [[0, true, false, 0], [0, false, false, 1], [0, false, true, 0]]);
  t.equal(h.hub.stats().indexedRanges, 0, 'the index forgets a canceled watcher');
  t.same(h.violations(), []);
});

t.test('closing a stream removes its watchers from the index', async (t) => {
  const h = new Harness();
  h.open(1);
  h.open(2);
  h.create(1, { key: k('a') });
  h.create(1, { key: k('a'), rangeEnd: k('c') });
  h.create(2, { key: k('a'), rangeEnd: prefixEnd(k('a')) });
  t.equal(h.hub.stats().indexedRanges, 3);
  h.close(1);
  t.match(h.hub.stats(), { streams: 1, watchers: 1, unsynced: 0, indexedRanges: 1 });
  h.commit([{ put: 'a' }]);
  t.same(h.hub.readyStreams(), [2]);
});

t.test('progress_notify: a notification after an idle interval, none after events', async (t) => {
  const h = new Harness({ progressIntervalTicks: 3 });
  h.open(1);
  h.create(1, { key: k('a'), progressNotify: true });
  h.create(1, { key: k('b') });
  h.drain(1);
  h.commit([{ put: 'a' }]);
  h.commit([{ put: 'z' }]);
  for (let i = 0; i < 3; i++) h.hub.tick();
  t.same(h.drain(1).map((r) => r.events.length), [1], 'events were sent: no notification');
  for (let i = 0; i < 3; i++) h.hub.tick();
  t.same(h.drain(1).map((r) => [r.watchId, r.headerRevision, r.events.length]), [[0, 2, 0]],
    'idle for an interval: progress at the current revision, for that watcher only');
  t.same(h.violations(), []);
});

t.test('progress_notify skips unsynced watchers and those starting in the future', async (t) => {
  const h = new Harness({ progressIntervalTicks: 1, limits: { streamBufferedEventsMax: 1 } });
  h.open(1);
  h.create(1, { key: k('a'), progressNotify: true, startRevision: 50 });
  h.drain(1);
  h.hub.tick();
  t.same(h.drain(1), [], 'start revision in the future');
  h.open(2);
  h.create(2, { key: k('a'), progressNotify: true });
  h.drain(2, Infinity, false);
  h.commit([{ put: 'a' }]);
  h.commit([{ put: 'a' }]);
  h.hub.tick();
  const got = h.drain(2, Infinity, false);
  t.equal(got.filter((r) => r.events.length === 0).length, 0, 'no progress while behind');
});

t.test('progress request: answered (id -1, current revision) only when all watchers are synced',
  async (t) => {
    const h = new Harness({ limits: { streamBufferedEventsMax: 1 } });
    h.open(1);
    h.hub.progressRequest(1);
    t.same(h.drain(1), [], 'no watchers: no answer');
    h.create(1, { key: k('a') });
    h.hub.progressRequest(1);
    t.same(h.drain(1).map((r) => r.created), [true], 'start revision above current: no answer');
    h.commit([{ put: 'a' }]);
    h.hub.progressRequest(1);
    t.match(h.drain(1).map((r) => [r.watchId, r.headerRevision, r.events.length]),
      [[0, 1, 1], [-1, 1, 0]]);
    h.commit([{ put: 'a' }]);
    h.commit([{ put: 'a' }]);
    t.equal(h.hub.stats().unsynced, 1, 'the unacknowledged stream is behind');
    h.hub.progressRequest(1);
    t.equal(h.drain(1, Infinity, false).filter((r) => r.watchId === -1).length, 0,
      'an unsynced watcher: no answer');
    h.settle();
    h.hub.progressRequest(1);
    t.match(h.drain(1), [{ watchId: -1, headerRevision: 3 }]);
    t.same(h.violations(), []);
  });

t.test('fragment: a large response splits into flagged parts only when the watcher asked',
  async (t) => {
    const h = new Harness({ limits: { fragmentBytesMin: 400 } });
    h.open(1);
    const frag = h.create(1, { key: k('a'), rangeEnd: prefixEnd(k('a')), fragment: true })!;
    const whole = h.create(1, { key: k('a'), rangeEnd: prefixEnd(k('a')) })!;
    const big = 'x'.repeat(100);
    h.commit([1, 2, 3, 4, 5].map((i) => ({ put: `a${i}`, value: big })));
    h.commit([{ put: 'a9', value: 'small' }]);
    h.settle();
    t.same(frag.responses.map((r) => [r.events.length, r.fragment, r.headerRevision]),
      [[2, true, 1], [2, true, 1], [1, false, 1], [1, false, 2]]);
    t.same(whole.responses.map((r) => [r.events.length, r.fragment]), [[5, false], [1, false]]);
    t.same(h.violations(), []);
  });

t.test('a single event larger than the fragment threshold travels alone, unsplit', async (t) => {
  const h = new Harness({ limits: { fragmentBytesMin: 100 } });
  h.open(1);
  const w = h.create(1, { key: k('a'), fragment: true })!;
  h.commit([{ put: 'a', value: 'y'.repeat(500) }]);
  h.settle();
  t.same(w.responses.map((r) => [r.events.length, r.fragment]), [[1, false]]);
});

t.test('slow consumer: the watcher falls behind, the buffer stays bounded, and it catches up '
  + 'completely, in order, without duplicates', async (t) => {
  const max = 5;
  const h = new Harness({ limits: { streamBufferedEventsMax: max, catchUpEventsMax: 3 } });
  h.open(1);
  h.open(2);
  const slow = h.create(1, { key: k('k'), rangeEnd: prefixEnd(k('k')), prevKv: true })!;
  const fast = h.create(2, { key: k('k'), rangeEnd: prefixEnd(k('k')) })!;
  h.drain(1);
  h.drain(2);
  let peak = 0;
  for (let i = 0; i < 200; i++) {
    h.commit([{ put: `k${i % 7}` }, { put: `k${(i % 7) + 10}` }]);
    h.drain(2);
    if (i % 25 === 0) h.drain(1, 2); // reads two responses and never acknowledges them
    peak = Math.max(peak, h.hub.streamStats(1).bufferedEvents);
  }
  t.ok(peak <= max + 1, `buffer stayed bounded (peak ${peak} events)`);
  t.ok(h.hub.streamStats(1).unsynced === 1, 'the slow watcher fell behind');
  t.equal(deliveredCount(fast), 400, 'the fast stream was not held back');
  h.settle();
  t.equal(deliveredCount(slow), 400, 'every event reached the slow consumer');
  t.same(h.violations(), []);
});

function deliveredCount(w: { responses: readonly { events: readonly unknown[] }[] }): number {
  return w.responses.reduce((n, r) => n + r.events.length, 0);
}

t.test('a revision larger than the buffer still goes through an empty buffer', async (t) => {
  const h = new Harness({ limits: { streamBufferedEventsMax: 2, catchUpEventsMax: 1 } });
  h.open(1);
  const w = h.create(1, { key: k('a'), rangeEnd: prefixEnd(k('a')) })!;
  h.drain(1);
  h.commit([1, 2, 3, 4, 5].map((i) => ({ put: `a${i}` })));
  h.commit([1, 2, 3, 4, 5].map((i) => ({ put: `a${i}` })));
  h.settle();
  t.same(w.responses.map((r) => r.events.length), [5, 5]);
  t.same(h.violations(), []);
});

t.test('end revision (extension): delivers every event up to it, then ends by itself',
  async (t) => {
    const h = new Harness();
    h.open(1);
    const live = h.create(1, { key: k('a'), endRevision: 3 })!;
    const past = h.create(1, { key: k('a'), rangeEnd: ZERO, startRevision: 1, endRevision: 2 })!;
    h.commit([{ put: 'a' }]);
    h.commit([{ put: 'b' }]);
    const replay = h.create(1, { key: k('a'), rangeEnd: ZERO, startRevision: 1, endRevision: 2 })!;
    h.commit([{ put: 'a' }]);
    h.commit([{ put: 'a' }]);
    h.settle();
    t.same(eventIds(live.responses), ['PUT a@1', 'PUT a@3']);
    t.match(live.responses.at(-1), { canceled: true, headerRevision: 3,
      cancelReason: watchCancelReasons.endRevisionReached });
    t.equal(live.end, 'ended');
    t.same(eventIds(past.responses), ['PUT a@1', 'PUT b@2']);
    t.same(eventIds(replay.responses), ['PUT a@1', 'PUT b@2'], 'the same through catch-up');
    t.equal(replay.end, 'ended');
    t.equal(h.hub.stats().watchers, 0);
    h.create(1, { key: k('a'), startRevision: 5, endRevision: 4 });
    t.match(h.drain(1), [{ created: true, canceled: true,
      cancelReason: watchCancelReasons.endBeforeStart }]);
    t.same(h.violations(), []);
  });

t.test('several ranges (extension): an event matching more than one is delivered once',
  async (t) => {
    const h = new Harness();
    h.open(1);
    const w = h.create(1, {
      key: k('a'), rangeEnd: prefixEnd(k('a')),
      extraRanges: [{ key: k('ab') }, { key: k('a'), rangeEnd: k('b') }, { key: k('x') }],
    })!;
    h.commit([{ put: 'ab' }, { put: 'x' }, { put: 'y' }]);
    h.commit([{ put: 'aa' }]);
    const replay = h.create(1, { ...w.request, startRevision: 1 })!;
    h.settle();
    t.same(eventIds(w.responses), ['PUT ab@1', 'PUT x@1', 'PUT aa@2']);
    t.same(eventIds(replay.responses), ['PUT ab@1', 'PUT x@1', 'PUT aa@2']);
    t.equal(h.hub.stats().indexedRanges, 8);
    t.same(h.violations(), []);
  });

t.test('the control backlog is bounded: requests are refused until the stream drains',
  async (t) => {
    const h = new Harness({ limits: { streamControlResponsesMax: 3 } });
    h.open(1);
    t.ok(h.hub.createWatch(1, { key: k('a') }));
    t.ok(h.hub.createWatch(1, { key: k('a') }));
    t.ok(h.hub.createWatch(1, { key: k('a') }));
    t.notOk(h.hub.createWatch(1, { key: k('a') }), 'refused');
    t.notOk(h.hub.acceptsRequests(1));
    h.hub.drain(1);
    t.ok(h.hub.acceptsRequests(1));
    t.equal(h.hub.streamStats(1).watchers, 3);
  });
