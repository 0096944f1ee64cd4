/**
 * One lmdb-js env per path and thread, shared by everything on that thread that stores in it: a
 * member keeps its Raft log and its mvcc tables in one env, so on a thread that runs both the raft
 * and the apply actor (the `worker` and `single` placements) a Raft append and the apply of the
 * entries before it land in the same lmdb-js write batch: one commit and one fsync pair where two
 * envs needed two. lmdb-js batches writes per env object, so sharing the object is what matters;
 * other threads open their own object on the same native env.
 *
 * Every opener of a path passes the same options (lmdb-js takes the first opener's anyway, so a
 * mismatch is a bug and fails loudly); the env closes when its last user releases it.
 */
import { open } from 'lmdb';
import type { RootDatabase } from 'lmdb';
import { assert } from '../../base/index.js';
import { commitStaged } from './lmdb-staging.js';

export interface EnvOptions {
  /** Directory of the env (created if missing). */
  readonly path: string;
  /** Open without write access. */
  readonly readOnly?: boolean;
  /** Never fsync: only for throwaway envs (tests, simulation on disk); a crash may corrupt. */
  readonly noSync?: boolean;
  /** Map size in bytes; lmdb-js grows it on demand, this only sets the start. */
  readonly mapSizeBytes?: number;
}

/** Named databases one env may hold: the mvcc tables, the Raft log's two, and room to spare. */
export const ENV_TABLES_MAX = 32;

interface Held {
  readonly env: RootDatabase;
  readonly key: string;
  users: number;
}

const held = new Map<string, Held>();
const byEnv = new Map<RootDatabase, Held>();

function optionsKey(o: EnvOptions): string {
  return `${o.readOnly === true}/${o.noSync === true}/${o.mapSizeBytes ?? ''}`;
}

/**
 * The env at `options.path` for this thread, opened on first use. `separateFlushed`: a write's
 * promise resolves once committed (visible, safe from a process crash) and `env.flushed` once it
 * and every commit before it are fsynced; callers that promise durability await `flushed`.
 */
export function acquireEnv(options: EnvOptions): RootDatabase {
  const key = optionsKey(options);
  const known = held.get(options.path);
  if (known !== undefined) {
    assert(known.key === key, `env ${options.path} opened with other options (${known.key} vs ${key})`);
    known.users++;
    return known.env;
  }
  const env = open({
    path: options.path,
    maxDbs: ENV_TABLES_MAX,
    separateFlushed: true,
    ...(options.readOnly === true && { readOnly: true }),
    ...(options.noSync === true && { noSync: true }),
    ...(options.mapSizeBytes !== undefined && { mapSize: options.mapSizeBytes }),
  });
  const h: Held = { env, key, users: 1 };
  held.set(options.path, h);
  byEnv.set(env, h);
  return env;
}

/** Gives the env back; the last user's release waits for its writes to flush and closes it. */
export async function releaseEnv(env: RootDatabase): Promise<void> {
  const h = byEnv.get(env);
  assert(h !== undefined && h.users > 0, 'releasing an env that was not acquired');
  h.users--;
  await commitStaged(env);
  await env.flushed;
  if (h.users > 0) return;
  for (const [path, x] of held) if (x === h) held.delete(path);
  byEnv.delete(env);
  await env.close();
}

/**
 * Closes the env at `path` on this thread whoever still holds it: for a member restarting in
 * place (a snapshot replaces its env), once every actor that used the env has stopped.
 */
export async function closeEnvAt(path: string): Promise<void> {
  const h = held.get(path);
  if (h === undefined) return;
  held.delete(path);
  byEnv.delete(h.env);
  h.users = 0;
  await commitStaged(h.env);
  await h.env.flushed;
  await h.env.close();
}
