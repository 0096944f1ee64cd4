/**
 * Logging is injected. Levels follow etcd's names. The node host provides a logger that writes
 * JSON lines; cores and tests use MemoryLogger or NullLogger.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'panic' | 'fatal';
export type LogFields = Readonly<Record<string, unknown>>;

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'panic', 'fatal'];

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export interface LogRecord {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: LogFields;
}

/** Keeps records in memory, up to a named maximum (oldest dropped first). */
export class MemoryLogger implements Logger {
  static readonly RECORDS_MAX = 10_000;
  readonly records: LogRecord[];
  readonly #base: LogFields;

  constructor(records: LogRecord[] = [], base: LogFields = {}) {
    this.records = records;
    this.#base = base;
  }

  #push(level: LogLevel, message: string, fields: LogFields | undefined): void {
    if (this.records.length >= MemoryLogger.RECORDS_MAX) this.records.shift();
    this.records.push({ level, message, fields: { ...this.#base, ...fields } });
  }

  debug(message: string, fields?: LogFields): void { this.#push('debug', message, fields); }
  info(message: string, fields?: LogFields): void { this.#push('info', message, fields); }
  warn(message: string, fields?: LogFields): void { this.#push('warn', message, fields); }
  error(message: string, fields?: LogFields): void { this.#push('error', message, fields); }
  child(fields: LogFields): Logger {
    return new MemoryLogger(this.records, { ...this.#base, ...fields });
  }
}

export const nullLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() { return nullLogger; },
};
