/**
 * tidy: enforces the layout and the dependency rules of shared/DESIGN.md on the source tree.
 * It reads every .ts file under src/ and actors/, resolves each import, and checks it against
 * the table of what each folder may import; it also rejects ambient time, randomness, timers,
 * process, console and node: I/O in pure code. A violation prints one line naming the file and
 * the rule, and the process exits 1, which fails `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const TOP_LEVEL_ALLOWED = new Set([
  'package.json', 'tsconfig.json', 'src', 'actors', 'test', 'scripts', 'README.md', '.ci',
  '.gitignore', 'package-lock.json',
]);

/** Which src subsystems each area may import (besides itself). '*' means any. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  'src/base': [],
  'src/raft': ['src/base'],
  'src/lease': ['src/base'],
  'src/backend': ['src/base'],
  'src/api': ['src/base'],
  'src/mvcc': ['src/base', 'src/backend'],
  'src/watch': ['src/base', 'src/mvcc'],
  'src/apply': ['src/base', 'src/api', 'src/mvcc', 'src/lease', 'src/watch', 'src/backend',
    'src/raft'],
  'src/runtime': ['src/base'],
  'src/runtime/node': ['src/base', 'src/runtime', 'src/backend', 'src/raft', 'src/api',
    'src/mvcc'],
  'src/sim': ['*'],
  'src/cli': ['*'],
  'actors': ['src/base', 'src/raft', 'src/lease', 'src/backend', 'src/api', 'src/mvcc',
    'src/watch', 'src/apply', 'src/runtime', 'actors'],
};

/** Imports of src/watch from src/mvcc must be type-only (DESIGN: "types from mvcc"). */
const TYPE_ONLY: Record<string, readonly string[]> = { 'src/watch': ['src/mvcc'] };

/** npm packages allowed in pure folders: pure code with no I/O of its own. */
const PURE_PACKAGES = new Set(['msgpackr', 'protobufjs', 'protobufjs/minimal.js', 'protobufjs/light.js', 'zod']);

const HOST_AREAS = ['src/runtime/node', 'src/cli'];
const AMBIENT = [
  /\bDate\.now\s*\(/, /\bperformance\.now\s*\(/, /\bMath\.random\s*\(/, /\bsetTimeout\s*\(/,
  /\bsetInterval\s*\(/, /\bsetImmediate\s*\(/, /\bprocess\./, /\bconsole\./, /\bnew Date\s*\(/,
];

const problems: string[] = [];
const problem = (file: string, why: string): void => {
  problems.push(`${file}: ${why}`);
};

function listFiles(dir: string): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...listFiles(full));
    else if (name.endsWith('.ts')) out.push(full);
  }
  return out;
}

/** The area of a repo-relative path: the most specific key of MAY_IMPORT it lies in. */
function areaOf(rel: string): string | undefined {
  if (rel.startsWith('actors/')) return 'actors';
  if (rel.startsWith('src/runtime/node/')) return 'src/runtime/node';
  const m = /^src\/([^/]+)\//.exec(rel);
  return m ? `src/${m[1]}` : undefined;
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

function checkTopLevel(): void {
  let entries: string[];
  try {
    const tracked = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'],
      { cwd: root, encoding: 'utf8' });
    entries = [...new Set(tracked.split('\n').filter(Boolean).map((f) => f.split('/')[0]!))];
  } catch {
    return; // Not a git checkout (an unpacked tarball): the layout check needs git's view.
  }
  for (const e of entries) {
    if (!TOP_LEVEL_ALLOWED.has(e)) problem(e, 'not allowed at the top level (DEVELOPERS.md)');
  }
  for (const must of ['src', 'test', 'scripts', 'package.json', 'tsconfig.json', 'README.md']) {
    if (!existsSync(join(root, must))) problem(must, 'missing at the top level');
  }
}

function checkIndexes(): void {
  const src = join(root, 'src');
  if (!existsSync(src)) return;
  for (const name of readdirSync(src)) {
    const dir = join(src, name);
    if (!statSync(dir).isDirectory()) continue;
    if (!existsSync(join(dir, 'index.ts'))) problem(`src/${name}`, 'has no index.ts');
  }
}

const IMPORT_RE =
  /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function checkFile(file: string): void {
  const rel = relative(root, file).split(sep).join('/');
  const area = areaOf(rel);
  if (area === undefined) return;
  const text = readFileSync(file, 'utf8');
  const code = stripComments(text);
  const isHost = HOST_AREAS.includes(area) || rel === 'actors/boot.ts';

  if (!isHost) {
    for (const re of AMBIENT) {
      if (re.test(code)) problem(rel, `ambient ${re.source.replace(/\\[bs]|\\|\(\s\*|\*/g, '')} in pure code`);
    }
  }

  for (const m of code.matchAll(IMPORT_RE)) {
    const typeOnly = m[2] !== undefined;
    const spec = m[3] ?? m[4];
    if (spec === undefined) continue;
    if (spec.startsWith('node:')) {
      if (!isHost && !rel.startsWith('src/sim/')) problem(rel, `imports ${spec} outside the host code`);
      if (rel.startsWith('src/sim/') && !typeOnly) problem(rel, `imports ${spec}; the simulator does no host I/O`);
      continue;
    }
    if (!spec.startsWith('.')) {
      if (!isHost && !PURE_PACKAGES.has(spec) && area !== 'src/sim') {
        problem(rel, `imports package ${spec} in pure code`);
      }
      continue;
    }
    const target = relative(root, resolve(dirname(file), spec)).split(sep).join('/');
    const targetArea = areaOf(target.replace(/\.js$/, '.ts'));
    if (targetArea === undefined || targetArea === area) continue;
    if (area === 'src/runtime/node' && targetArea === 'src/runtime') continue;
    if (area === 'src/runtime' && targetArea === 'src/runtime/node') {
      problem(rel, 'pure runtime imports the node host');
      continue;
    }
    if (targetArea === 'actors' && area !== 'actors' && area !== 'src/sim' && area !== 'src/cli') {
      problem(rel, 'imports actors/ (only src/sim and src/cli may)');
      continue;
    }
    if (targetArea === 'src/runtime/node' && area === 'actors' && rel !== 'actors/boot.ts') {
      problem(rel, 'imports src/runtime/node (only actors/boot.ts may)');
      continue;
    }
    const allowed = rel === 'actors/boot.ts'
      ? [...(MAY_IMPORT[area] ?? []), 'src/runtime/node'] : (MAY_IMPORT[area] ?? []);
    if (!allowed.includes('*') && !allowed.includes(targetArea)) {
      problem(rel, `${area} may not import ${targetArea} (${spec})`);
      continue;
    }
    if (TYPE_ONLY[area]?.includes(targetArea) && !typeOnly) {
      problem(rel, `${area} may import only types from ${targetArea}`);
    }
    // Other folders reach a subsystem only through its index.ts.
    const sub = targetArea === 'actors' ? undefined : targetArea;
    if (sub !== undefined && target !== `${sub}/index.js` && target !== `${sub}/index.ts`) {
      problem(rel, `reaches into ${target}; import ${sub}/index.js instead`);
    }
  }
}

checkTopLevel();
checkIndexes();
for (const dir of ['src', 'actors']) for (const f of listFiles(join(root, dir))) checkFile(f);

if (problems.length > 0) {
  for (const p of problems) process.stdout.write(`tidy: ${p}\n`);
  process.stdout.write(`tidy: ${problems.length} problem(s)\n`);
  process.exit(1);
}
process.stdout.write('tidy: layout and dependency rules hold\n');
