/**
 * MemoryBackend: the Backend of the simulator and of fast tests. Each table is a sorted array of
 * keys with a parallel array of values, searched by binary search. A write runs at once and keeps
 * an undo log so a throw rolls it back. Everything is synchronous and single-threaded, so a read
 * can never interleave with a write and every read is a consistent snapshot.
 */
import { assert, compareBytes, copyBytes } from '../base/index.js';
import type {
  Backend, BackendEntry, RangeOptions, ReadTxn, StagedWrite, WriteTxn,
} from './backend.js';
import { backendLimits } from './backend.js';
import { lowerBound } from './write-overlay.js';

class Table {
  readonly keys: Uint8Array[] = [];
  readonly values: Uint8Array[] = [];

  /** Index of the first key >= `key`. */
  lowerBound(key: Uint8Array): number {
    return lowerBound(this.keys, key);
  }

  find(key: Uint8Array): number {
    const at = this.lowerBound(key);
    if (at < this.keys.length && compareBytes(this.keys[at]!, key) === 0) return at;
    return -1;
  }
}

type Undo = { table: Table; key: Uint8Array; value: Uint8Array | undefined };

export class MemoryBackend implements Backend {
  readonly tables: readonly string[];
  private readonly byName = new Map<string, Table>();
  private writing = false;
  private closed = false;

  constructor(tables: readonly string[]) {
    assert(tables.length > 0, 'a backend needs at least one table');
    this.tables = [...tables];
    for (const name of tables) this.byName.set(name, new Table());
  }

  read<T>(fn: (txn: ReadTxn) => T): T {
    assert(!this.closed, 'backend is closed');
    return fn(this.readTxn());
  }

  /** In memory, visible and durable are the same moment. */
  writeStaged<T>(fn: (txn: WriteTxn) => T): StagedWrite<T> {
    const visible = this.write(fn);
    return { visible, durable: visible.then(() => undefined) };
  }

  write<T>(fn: (txn: WriteTxn) => T): Promise<T> {
    assert(!this.closed, 'backend is closed');
    assert(!this.writing, 'write transactions do not nest');
    const undo: Undo[] = [];
    this.writing = true;
    try {
      return Promise.resolve(fn(this.writeTxn(undo)));
    } catch (error) {
      for (let i = undo.length - 1; i >= 0; i--) this.restore(undo[i]!);
      return Promise.reject(error);
    } finally {
      this.writing = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private table(name: string): Table {
    const table = this.byName.get(name);
    assert(table !== undefined, `unknown table ${name}`);
    return table;
  }

  private readTxn(): ReadTxn {
    return {
      get: (name, key) => {
        const t = this.table(name);
        const at = t.find(key);
        return at < 0 ? undefined : t.values[at];
      },
      range: (name, options) => rangeOf(this.table(name), options),
    };
  }

  private writeTxn(undo: Undo[]): WriteTxn {
    const read = this.readTxn();
    return {
      ...read,
      put: (name, key, value) => {
        checkKey(key);
        const t = this.table(name);
        const at = t.lowerBound(key);
        const copy = copyBytes(value);
        if (at < t.keys.length && compareBytes(t.keys[at]!, key) === 0) {
          undo.push({ table: t, key: t.keys[at]!, value: t.values[at] });
          t.values[at] = copy;
        } else {
          const keyCopy = copyBytes(key);
          undo.push({ table: t, key: keyCopy, value: undefined });
          t.keys.splice(at, 0, keyCopy);
          t.values.splice(at, 0, copy);
        }
      },
      delete: (name, key) => {
        checkKey(key);
        const t = this.table(name);
        const at = t.find(key);
        if (at < 0) return false;
        undo.push({ table: t, key: t.keys[at]!, value: t.values[at] });
        t.keys.splice(at, 1);
        t.values.splice(at, 1);
        return true;
      },
    };
  }

  private restore({ table, key, value }: Undo): void {
    const at = table.lowerBound(key);
    const present = at < table.keys.length && compareBytes(table.keys[at]!, key) === 0;
    if (value === undefined) {
      assert(present, 'undo of an insert finds the key');
      table.keys.splice(at, 1);
      table.values.splice(at, 1);
    } else if (present) {
      table.values[at] = value;
    } else {
      table.keys.splice(at, 0, key);
      table.values.splice(at, 0, value);
    }
  }
}

function checkKey(key: Uint8Array): void {
  assert(key.length > 0, 'backend keys are never empty');
  assert(key.length <= backendLimits.keyBytesMax, `backend key too long: ${key.length}`);
}

function* rangeOf(t: Table, options: RangeOptions): Generator<BackendEntry> {
  const limit = options.limit ?? Infinity;
  assert(limit > 0, 'range limit must be positive');
  const from = options.start === undefined ? 0 : t.lowerBound(options.start);
  const to = options.end === undefined ? t.keys.length : t.lowerBound(options.end);
  let n = 0;
  if (options.reverse === true) {
    for (let i = to - 1; i >= from && n < limit; i--, n++) {
      yield { key: t.keys[i]!, value: t.values[i]! };
    }
  } else {
    for (let i = from; i < to && n < limit; i++, n++) {
      yield { key: t.keys[i]!, value: t.values[i]! };
    }
  }
}
