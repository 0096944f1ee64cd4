/**
 * bench:watch: the cost of watchers that do not match. A strata member is started on free ports;
 * W watchers are created (half on exact keys, half on prefixes, spread over streams), then a
 * steady closed-loop put load runs for a fixed time, each put matching exactly one watcher.
 * Printed per W: puts/s, events delivered/s, and delivery latency p50/p99 (put sent -> event
 * received, one clock). The target: 10,000 watchers cost less than twice the put
 * throughput of 1 watcher.
 *
 *   npm run bench:watch [-- --seconds 5 --clients 32 --watchers 1,1000,10000]
 */
import { performance } from 'node:perf_hooks';
import { GrpcChannel, PATH } from '../src/cli/bench/grpc-client.js';
import { putFrame, readWatchResponse, watchCreateFrame } from '../src/cli/bench/wire.js';
import { Histogram } from '../src/cli/bench/histogram.js';
import { startStrata } from '../test/helpers/strata-server.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const SECONDS = Number(flag('seconds', '5'));
const CLIENTS = Number(flag('clients', '32'));
const WATCHER_COUNTS = flag('watchers', '1,1000,10000').split(',').map(Number);
const STREAMS_MAX = 100;
const enc = new TextEncoder();

function keyOf(i: number): { key: Uint8Array; watchKey: Uint8Array; watchEnd: Uint8Array } {
  if (i % 2 === 0) {
    const key = enc.encode(`w/e/${i}`);
    return { key, watchKey: key, watchEnd: new Uint8Array(0) };
  }
  const prefix = `w/p/${i}/`;
  return { key: enc.encode(`${prefix}x`), watchKey: enc.encode(prefix), watchEnd: enc.encode(`w/p/${i}0`) };
}

interface Row { watchers: number; puts: number; delivered: number; p50: number; p99: number }

async function runOne(watchers: number): Promise<Row> {
  const server = await startStrata();
  try {
    const channel = await GrpcChannel.connect(server.endpoint, 2);
    const latency = new Histogram();
    let delivered = 0;
    const streams = Math.max(1, Math.min(STREAMS_MAX, Math.ceil(watchers / 100)));
    let created = 0;
    const allCreated = new Promise<void>((resolve) => {
      const onMessage = (msg: Buffer): void => {
        const now = performance.now();
        const summary = readWatchResponse(msg, (buf, s, e) => {
          const sent = Number(Buffer.from(buf.buffer, buf.byteOffset + s, e - s).toString());
          latency.record(Math.max(1, Math.round((now - sent) * 1e6)));
          delivered++;
        });
        if (summary.created && ++created === watchers) resolve();
      };
      const opened = Array.from({ length: streams }, () => channel.stream(PATH.watch, onMessage, () => undefined));
      for (let i = 0; i < watchers; i++) {
        const k = keyOf(i);
        opened[i % streams]!.write(watchCreateFrame(k.watchKey, k.watchEnd));
      }
    });
    await allCreated;
    let puts = 0;
    let next = 0;
    const until = performance.now() + SECONDS * 1000;
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < until) {
        const k = keyOf(next++ % watchers);
        await channel.unaryAsync(PATH.put, putFrame(k.key, enc.encode(String(performance.now()))), false);
        puts++;
      }
    }));
    const settleUntil = performance.now() + 5_000;
    while (delivered < puts && performance.now() < settleUntil) await new Promise((r) => setTimeout(r, 10));
    channel.close();
    return {
      watchers, puts: puts / SECONDS, delivered: delivered / SECONDS,
      p50: latency.quantile(0.5) / 1e6, p99: latency.quantile(0.99) / 1e6,
    };
  } finally {
    await server.stop();
  }
}

const rows: Row[] = [];
for (const w of WATCHER_COUNTS) rows.push(await runOne(w));
const base = rows[0]!.puts;
process.stdout.write(`bench:watch  ${SECONDS}s closed-loop puts from ${CLIENTS} clients, each put matching one watcher\n`);
process.stdout.write('| watchers | puts/s | events delivered/s | delivery p50 ms | p99 ms | put throughput vs first row |\n');
process.stdout.write('|---:|---:|---:|---:|---:|---:|\n');
for (const r of rows) {
  process.stdout.write(`| ${r.watchers} | ${r.puts.toFixed(0)} | ${r.delivered.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${(r.puts / base).toFixed(2)} |\n`);
}
