/**
 * Loading an actor from its placement spec: the module is imported by the thread that will run
 * the actor, and the named export (an ActorFactory) is called with the spec's plain-data options.
 */
import { assert } from '../../base/index.js';
import { assertAddress } from '../index.js';
import type { Address, AnyActor } from '../index.js';

/** Where an actor's code is and how to build it; plain data, so it can be sent to a worker. */
export interface ActorSpec {
  readonly address: Address;
  /** A file URL (or specifier) of compiled JS, e.g. `new URL('./raft-actor.js', import.meta.url).href`. */
  readonly module: string;
  /** The name of the export to call: an ActorFactory. */
  readonly export: string;
  /** Plain data (structured-cloneable) passed to the factory. */
  readonly options?: unknown;
}

export async function loadActor(spec: ActorSpec): Promise<AnyActor> {
  assertAddress(spec.address);
  const mod = (await import(spec.module)) as Record<string, unknown>;
  const factory = mod[spec.export];
  assert(typeof factory === 'function',
    `${spec.module} has no function export ${JSON.stringify(spec.export)} for ${spec.address}`);
  const actor = (factory as (options: unknown) => unknown)(spec.options);
  assert(typeof actor === 'object' && actor !== null
    && typeof (actor as { receive?: unknown }).receive === 'function',
  `${spec.module}#${spec.export} did not return an actor (an object with receive) for ${spec.address}`);
  return actor as AnyActor;
}
