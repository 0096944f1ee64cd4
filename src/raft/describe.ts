/**
 * Readable renderings of entries, messages and Ready values, in the spirit of etcd-io/raft's
 * DescribeReady: the golden interaction scripts (test/raft/testdata) compare these texts.
 */
import { fromUtf8 } from '../base/index.js';
import { CONF_CHANGE_BYTES, decodeConfChange } from './conf-change.js';
import type { Entry, HardState, Message, Ready, Snapshot, SoftState } from './types.js';

function printable(data: Uint8Array): string {
  const text = fromUtf8(data);
  return /^[\x20-\x7e]*$/.test(text) ? JSON.stringify(text) : `0x${[...data].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export function describeEntry(e: Entry): string {
  if (e.type === 'confChange' && e.data.length >= CONF_CHANGE_BYTES) {
    const cc = decodeConfChange(e.data);
    return `${e.term}/${e.index} ConfChange ${cc.type} ${cc.nodeId}`;
  }
  return e.data.length === 0 ? `${e.term}/${e.index} EntryNormal ""` : `${e.term}/${e.index} EntryNormal ${printable(e.data)}`;
}

export function describeEntries(ents: readonly Entry[]): string {
  return ents.map(describeEntry).join(', ');
}

export function describeSnapshot(s: Snapshot): string {
  const cs = s.metadata.confState;
  const learners = cs.learners.length > 0 ? ` learners=(${cs.learners.join(' ')})` : '';
  return `index=${s.metadata.index} term=${s.metadata.term} voters=(${cs.voters.join(' ')})${learners}`;
}

export function describeMessage(m: Message): string {
  let out = `${m.from}->${m.to} ${m.type} Term:${m.term} Log:${m.logTerm}/${m.index}`;
  if (m.commit !== 0) out += ` Commit:${m.commit}`;
  if (m.reject) out += ` Rejected (Hint: ${m.rejectHint})`;
  if (m.entries.length > 0) out += ` Entries:[${describeEntries(m.entries)}]`;
  if (m.snapshot !== null) out += ` Snapshot: ${describeSnapshot(m.snapshot)}`;
  if (m.context !== null && m.context.length > 0) out += ` Context:${printable(m.context)}`;
  return out;
}

export function describeHardState(hs: HardState): string {
  return `Term:${hs.term} Vote:${hs.vote} Commit:${hs.commit}`;
}

export function describeSoftState(ss: SoftState): string {
  return `Lead:${ss.lead} State:${ss.role}`;
}

/** A multi-line rendering of a Ready, empty parts left out. */
export function describeReady(rd: Ready): string {
  const lines: string[] = [];
  if (rd.softState !== null) lines.push(describeSoftState(rd.softState));
  if (rd.hardState !== null) lines.push(`HardState ${describeHardState(rd.hardState)}`);
  if (rd.readStates.length > 0) {
    lines.push(`ReadStates: ${rd.readStates.map((r) => `(${r.index} ${printable(r.requestCtx)})`).join(' ')}`);
  }
  if (rd.entries.length > 0) lines.push('Entries:', ...rd.entries.map((e) => `  ${describeEntry(e)}`));
  if (rd.snapshot !== null) lines.push(`Snapshot ${describeSnapshot(rd.snapshot)}`);
  if (rd.committedEntries.length > 0) {
    lines.push('CommittedEntries:', ...rd.committedEntries.map((e) => `  ${describeEntry(e)}`));
  }
  if (rd.messages.length > 0) lines.push('Messages:', ...rd.messages.map((m) => `  ${describeMessage(m)}`));
  if (rd.messagesAfterPersist.length > 0) {
    lines.push('MessagesAfterPersist:', ...rd.messagesAfterPersist.map((m) => `  ${describeMessage(m)}`));
  }
  return lines.length === 0 ? '<empty Ready>' : lines.join('\n');
}
