/**
 * Runs every subsystem benchmark (dist/scripts/bench-*.js), then `strata bench compare`, and
 * optionally the cross-check of the bench against `etcdctl check perf` (--check-perf), and writes
 * one Markdown file with the date, the machine, the commands and every figure: the table the
 * README shows. Usage (after `npm run build`):
 *   node dist/scripts/bench-all.js [--out bench-results.md] [--quick] [--check-perf]
 *     [--skip-subsystems] [--skip-compare]
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runBench } from '../src/cli/bench/index.js';
import { crossCheckPerf } from '../src/cli/bench/check-perf.js';

/** Longest a subsystem benchmark may run before it is killed and reported as such. */
const SUBSYSTEM_MS_MAX = 180_000;

const FENCE = '```';
const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(`--${name}`);
const outIndex = args.indexOf('--out');
const out = (outIndex >= 0 ? args[outIndex + 1] : undefined) ?? 'bench-results.md';

function machine(): string {
  const cpu = cpus();
  let etcd = 'etcd not found';
  try {
    etcd = execFileSync('etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? etcd;
  } catch { /* reported as not found */ }
  return `${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, `
    + `${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ${etcd}`;
}

function runScript(file: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (c: Buffer) => { text += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { text += c.toString(); });
    const timer = setTimeout(() => {
      text += `\n(killed after ${SUBSYSTEM_MS_MAX / 1000} s)`;
      child.kill('SIGKILL');
    }, SUBSYSTEM_MS_MAX);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code === 0 ? text : `${text}\n(exit ${code})`);
    });
  });
}

function capture(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      process.stdout.write(chunk);
      cb();
    },
  });
  return { stream, text: () => text };
}

const sections: string[] = [];
const started = new Date();
sections.push(`# strata benchmarks\n\n- date: ${started.toISOString()}\n- machine: ${machine()}\n`
  + `- command: \`node dist/scripts/bench-all.js ${args.join(' ')}\`\n`);

if (!flag('skip-subsystems')) {
  const scripts = readdirSync(here)
    .filter((f) => /^bench-.*\.js$/.test(f) && f !== 'bench-all.js').sort();
  for (const f of scripts) {
    process.stdout.write(`# ${f}\n`);
    const text = await runScript(join(here, f));
    process.stdout.write(text);
    sections.push(`## ${f.replace(/\.js$/, '')}\n\n\`node dist/scripts/${f}\`\n\n`
      + `${FENCE}\n${text.trim()}\n${FENCE}\n`);
  }
}

if (!flag('skip-compare')) await compare();

async function compare(): Promise<void> {
  const compareArgs = ['compare', ...(flag('quick') ? ['--quick'] : [])];
  const cap = capture();
  const err = capture();
  const t0 = Date.now();
  const io = { stdout: cap.stream, stderr: err.stream, isTTY: false };
  const code = await runBench(compareArgs, io);
  const lines = cap.text().split('\n');
  const table = lines.filter((l) => !l.startsWith('{')).join('\n').trim();
  const json = lines.filter((l) => l.startsWith('{')).join('\n');
  const command = `strata bench ${compareArgs.join(' ')}`;
  sections.push(`## ${command}\n\n\`${command}\` (exit ${code}, `
    + `${((Date.now() - t0) / 1000).toFixed(0)} s). Ratios are strata / etcd; us/op is server CPU `
    + '(utime + stime from /proc) per operation, per delivered event for watch.\n\n'
    + `${FENCE}\n${table}\n${err.text().trim()}\n${FENCE}\n\n`
    + `JSON lines:\n\n${FENCE}\n${json}\n${FENCE}\n`);
}

if (flag('check-perf')) {
  const report = await crossCheckPerf((line) => process.stdout.write(`${line}\n`));
  sections.push('## cross-check: etcdctl check perf against strata bench\n\n'
    + `${FENCE}\n${report}\n${FENCE}\n`);
}

writeFileSync(out, sections.join('\n'));
process.stdout.write(`wrote ${out}\n`);
