/**
 * ConfChange entries: a fixed 9-byte encoding (type code, then the member id as 8 bytes
 * big-endian), so membership entries need no codec dependency and hash the same everywhere.
 */
import { assert, memberId } from '../base/index.js';
import type { ConfChange, ConfChangeType } from './types.js';

const CODES: readonly ConfChangeType[] = ['addNode', 'addLearner', 'removeNode'];
export const CONF_CHANGE_BYTES = 9;

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const out = new Uint8Array(CONF_CHANGE_BYTES);
  const code = CODES.indexOf(cc.type);
  assert(code >= 0, `unknown conf change type ${cc.type}`);
  out[0] = code;
  new DataView(out.buffer).setBigUint64(1, cc.nodeId);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  assert(data.length === CONF_CHANGE_BYTES, `conf change of ${data.length} bytes`);
  const type = CODES[data[0]!];
  assert(type !== undefined, `unknown conf change code ${data[0]}`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { type, nodeId: memberId(view.getBigUint64(1)) };
}
