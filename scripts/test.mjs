#!/usr/bin/env node
// The test command. It type-checks and builds everything (tests included), runs test/tidy
// (layout and dependency rules), then every tap suite, echoing the raw TAP stream. It ends with
// one line, `N passed, M failed[, K skipped]`, counted from the real results, and exits non-zero
// when anything failed. Counting rules: each leaf test point counts once; a subtest that failed
// without any failing child (a crash, a timeout, a bad plan) counts as one failure; a non-zero
// exit of a step with no failing point counts as one failure.
import { spawn } from 'node:child_process';
import { Parser } from 'tap-parser';

const counts = { passed: 0, failed: 0, skipped: 0 };
const failures = [];

function run(command, args, { onStdout } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      onStdout?.(chunk);
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/** A step that is one test point: passes iff it exits 0. */
async function step(name, command, args) {
  process.stdout.write(`# ${name}: ${command} ${args.join(' ')}\n`);
  const code = await run(command, args);
  if (code === 0) counts.passed++;
  else {
    counts.failed++;
    failures.push(`${name} (exit ${code})`);
  }
}

/** Counts leaf test points in `parser` and its children; returns a promise of its failures. */
function watch(parser, path) {
  let failedHere = 0;
  let lastChild = null;
  parser.on('child', (child) => {
    const state = { parser: child, failed: 0, done: false };
    lastChild = state;
    watch(child, [...path, child.name]).then((n) => {
      state.failed = n;
      state.done = true;
    });
  });
  parser.on('assert', (res) => {
    const child = lastChild;
    if (child !== null && child.done) {
      lastChild = null;
      // A subtest's own summary point: count it only if it failed with no failing leaf.
      if (!res.ok && !res.todo && !res.skip && child.failed === 0) {
        counts.failed++;
        failedHere++;
        failures.push([...path, res.name].join(' > '));
      } else if (!res.ok) {
        failedHere += child.failed;
      } else {
        failedHere += child.failed;
      }
      return;
    }
    if (res.skip || res.todo) counts.skipped++;
    else if (res.ok) counts.passed++;
    else {
      counts.failed++;
      failedHere++;
      failures.push([...path, res.name].join(' > '));
    }
  });
  return new Promise((resolve) => parser.on('complete', () => resolve(failedHere)));
}

await step('typecheck and build', 'npx', ['tsc', '-p', 'tsconfig.json']);
await step('tidy (layout and dependency rules)', 'node', ['dist/test/tidy.js']);

const parser = new Parser();
const parsed = watch(parser, []);
const tapArgs = ['tap', '--reporter=tap', ...process.argv.slice(2)];
const before = counts.failed;
const tapCode = await run('npx', tapArgs, { onStdout: (chunk) => parser.write(chunk) });
parser.end();
await parsed;
if (tapCode !== 0 && counts.failed === before) {
  counts.failed++;
  failures.push(`tap exited ${tapCode} with no failing test point`);
}

if (failures.length > 0) {
  process.stdout.write('\n# failures:\n' + failures.map((f) => `#   ${f}\n`).join(''));
}
const skipped = counts.skipped > 0 ? `, ${counts.skipped} skipped` : '';
process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed${skipped}\n`);
process.exit(counts.failed > 0 ? 1 : 0);
