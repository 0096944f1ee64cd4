/**
 * ConfChange entries: a 9-byte head (type code, then the member id as 8 bytes big-endian), then
 * the context bytes as they are, so membership entries need no codec dependency and hash the
 * same everywhere.
 */
import { assert, memberId } from '../base/index.js';
import type { ConfChange, ConfChangeType } from './types.js';

const CODES: readonly ConfChangeType[] = ['addNode', 'addLearner', 'removeNode', 'updateNode'];
export const CONF_CHANGE_BYTES = 9;

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const out = new Uint8Array(CONF_CHANGE_BYTES + (cc.context?.length ?? 0));
  if (cc.context !== undefined) out.set(cc.context, CONF_CHANGE_BYTES);
  const code = CODES.indexOf(cc.type);
  assert(code >= 0, `unknown conf change type ${cc.type}`);
  out[0] = code;
  new DataView(out.buffer).setBigUint64(1, cc.nodeId);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  assert(data.length >= CONF_CHANGE_BYTES, `conf change of ${data.length} bytes`);
  const type = CODES[data[0]!];
  assert(type !== undefined, `unknown conf change code ${data[0]}`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const nodeId = memberId(view.getBigUint64(1));
  return data.length === CONF_CHANGE_BYTES
    ? { type, nodeId } : { type, nodeId, context: data.subarray(CONF_CHANGE_BYTES) };
}
