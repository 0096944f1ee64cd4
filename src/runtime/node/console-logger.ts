/**
 * A JSON-lines logger with etcd's level names: one object per line,
 * `{"level":"info","ts":"2026-11-25T09:00:00.000Z","msg":"...", ...fields}`, written to stderr
 * (as etcd's zap logger does) or to an injected sink. Lines below `minLevel` are not built.
 * bigint fields print as decimal strings and byte arrays as hex, since JSON has neither.
 */
import { LOG_LEVELS, assert, toHex } from '../../base/index.js';
import type { LogFields, LogLevel, Logger } from '../../base/index.js';

export type LineSink = (line: string) => void;

export interface ConsoleLoggerOptions {
  readonly minLevel?: LogLevel;
  /** Where lines go; process.stderr by default. Each call gets one line ending in "\n". */
  readonly sink?: LineSink;
  /** Read for the `ts` field; Date.now by default. */
  readonly wallClockMs?: () => number;
}

const stderrSink: LineSink = (line) => {
  process.stderr.write(line);
};

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return toHex(value);
  if (value instanceof Error) return value.stack ?? value.message;
  return value;
}

export class ConsoleLogger implements Logger {
  readonly #minRank: number;
  readonly #sink: LineSink;
  readonly #wallClockMs: () => number;
  readonly #base: LogFields;

  constructor(options: ConsoleLoggerOptions = {}, base: LogFields = {}) {
    const minLevel = options.minLevel ?? 'info';
    this.#minRank = LOG_LEVELS.indexOf(minLevel);
    assert(this.#minRank >= 0, `unknown log level ${minLevel}`);
    this.#sink = options.sink ?? stderrSink;
    this.#wallClockMs = options.wallClockMs ?? Date.now;
    this.#base = base;
  }

  debug(message: string, fields?: LogFields): void { this.#write(0, 'debug', message, fields); }
  info(message: string, fields?: LogFields): void { this.#write(1, 'info', message, fields); }
  warn(message: string, fields?: LogFields): void { this.#write(2, 'warn', message, fields); }
  error(message: string, fields?: LogFields): void { this.#write(3, 'error', message, fields); }

  child(fields: LogFields): Logger {
    return new ConsoleLogger(
      { minLevel: LOG_LEVELS[this.#minRank]!, sink: this.#sink, wallClockMs: this.#wallClockMs },
      { ...this.#base, ...fields });
  }

  #write(rank: number, level: LogLevel, message: string, fields: LogFields | undefined): void {
    if (rank < this.#minRank) return;
    const record = {
      level, ts: new Date(this.#wallClockMs()).toISOString(), msg: message, ...this.#base, ...fields,
    };
    this.#sink(`${JSON.stringify(record, replacer)}\n`);
  }
}
