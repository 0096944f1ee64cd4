/**
 * A strict parser of the Prometheus text exposition format (0.0.4), for tests: every sample must
 * belong to a family declared by `# HELP` and `# TYPE` before it, names and label sets must be
 * well formed, values must be numbers, counters non-negative, and histogram buckets cumulative
 * and ending in `+Inf` equal to `_count`. Throws on the first violation.
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( \d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const v = Number(text);
  if (Number.isNaN(v)) throw new Error(`bad sample value ${text}`);
  return v;
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const m = LABEL.exec(text);
    if (m === null) throw new Error(`bad label set {${text}}`);
    labels[m[1] as string] = (m[2] as string).replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
  }
  return labels;
}

function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  for (const suffix of ['', '_bucket', '_sum', '_count', '_created']) {
    if (suffix !== '' && !sample.endsWith(suffix)) continue;
    const f = families.get(sample.slice(0, sample.length - suffix.length));
    if (f !== undefined) return f;
  }
  return undefined;
}

export function parsePromText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('# HELP ')) {
      const [, name = '', ...rest] = line.slice(2).split(' ');
      if (!NAME.test(name)) throw new Error(`bad metric name in ${line}`);
      help.set(name, rest.join(' '));
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [, name = '', type = ''] = line.slice(2).split(' ');
      if (!TYPES.has(type)) throw new Error(`bad type in ${line}`);
      if (families.has(name)) throw new Error(`family ${name} declared twice`);
      families.set(name, { name, help: help.get(name) ?? '', type, samples: [] });
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`bad sample line: ${line}`);
    const family = familyOf(m[1] as string, families);
    if (family === undefined) throw new Error(`sample ${m[1] as string} has no declared family`);
    family.samples.push({ name: m[1] as string, labels: parseLabels(m[3] ?? ''), value: parseValue(m[4] as string) });
  }
  for (const f of families.values()) check(f);
  return families;
}

function check(f: Family): void {
  if (f.type === 'counter') {
    for (const s of f.samples) if (!(s.value >= 0)) throw new Error(`counter ${s.name} is ${s.value}`);
  }
  // A family may have no series yet (a labelled histogram nothing observed): that is valid.
  if (f.type !== 'histogram') return;
  // One series per label set (without `le`): buckets ascending and cumulative, +Inf = _count.
  const series = new Map<string, Sample[]>();
  const keyOf = (s: Sample): string => JSON.stringify(Object.entries(s.labels).filter(([k]) => k !== 'le').sort());
  for (const s of f.samples.filter((x) => x.name === `${f.name}_bucket`)) {
    series.set(keyOf(s), [...(series.get(keyOf(s)) ?? []), s]);
  }
  for (const [key, buckets] of series) {
    const count = f.samples.find((s) => s.name === `${f.name}_count` && keyOf(s) === key);
    if (count === undefined) throw new Error(`histogram ${f.name} lacks a count for ${key}`);
    let last = -1;
    let lastLe = -Infinity;
    for (const b of buckets) {
      const le = parseValue(b.labels.le ?? '');
      if (!(le > lastLe) || b.value < last) throw new Error(`histogram ${f.name} buckets are not cumulative`);
      last = b.value;
      lastLe = le;
    }
    if (lastLe !== Infinity || last !== count.value) throw new Error(`histogram ${f.name}: +Inf != _count`);
  }
}
