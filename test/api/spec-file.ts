/**
 * Locates shared/spec/etcd-v3-api.md for tests that pin src/api to it. The spec lives next to the
 * repository (<repo>/../shared/spec); tests skip, saying why, when it is absent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest ancestor of this file holding package.json named strata. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && /"name":\s*"strata"/.test(readFileSync(pkg, 'utf8'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('repository root not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export const specPath = resolve(repoRoot(), '..', 'shared', 'spec', 'etcd-v3-api.md');

export function readSpec(): string | undefined {
  return existsSync(specPath) ? readFileSync(specPath, 'utf8') : undefined;
}

/** The lines of the section that starts with `heading` (a markdown heading line prefix). */
export function section(spec: string, heading: string): string[] {
  const lines = spec.split('\n');
  const start = lines.findIndex((l) => l.startsWith(heading));
  if (start < 0) throw new Error(`spec section ${heading} not found`);
  const level = /^#+/.exec(heading)?.[0].length ?? 2;
  const out: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const m = /^(#+) /.exec(line);
    if (m !== null && (m[1] as string).length <= level) break;
    out.push(line);
  }
  return out;
}

/** Cells of a markdown table row, or undefined for non-rows and separator rows. */
export function cells(line: string): string[] | undefined {
  if (!line.startsWith('|') || /^\|[-| ]+\|$/.test(line)) return undefined;
  return line.slice(1, line.endsWith('|') ? -1 : undefined).split('|').map((c) => c.trim());
}
