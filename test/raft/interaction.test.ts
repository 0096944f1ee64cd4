/**
 * Golden datadriven interaction scripts (etcd-io/raft's interaction_test.go): each file in
 * test/raft/testdata/*.txt is a list of commands, each followed by `----` and the expected
 * output, blocks separated by blank lines. The engine drives real RawNodes over MemoryRaftStorage
 * and prints a readable rendering of every Ready and every delivered message. Any difference
 * fails; `UPDATE_GOLDEN=1` rewrites the expected outputs instead.
 */
import t from 'tap';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SeededRng, memberId, utf8 } from '../../src/base/index.js';
import type { MemberId } from '../../src/base/index.js';
import { MemoryRaftStorage, RawNode, describeMessage, describeReady } from '../../src/raft/index.js';
import type { ConfChangeType, Message } from '../../src/raft/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const testdata = resolve(here, '..', '..', '..', 'test', 'raft', 'testdata');

interface Node { raw: RawNode; storage: MemoryRaftStorage }

class Interaction {
  nodes = new Map<MemberId, Node>();
  mailbox = new Map<MemberId, Message[]>();
  cut = new Set<MemberId>();

  run(cmd: string, args: string[]): string {
    const ids = (xs: string[]): MemberId[] => xs.map((x) => memberId(BigInt(x)));
    const n = (x: string | undefined): Node => {
      const node = this.nodes.get(memberId(BigInt(x ?? '0')));
      if (node === undefined) throw new Error(`no node ${x}`);
      return node;
    };
    switch (cmd) {
      case 'add-nodes': {
        const count = Number(args[0]);
        const opts = Object.fromEntries(args.slice(1).map((a) => a.split('=')));
        const learners = opts['learners'] ? ids(String(opts['learners']).split(',')) : [];
        const voters = Array.from({ length: count }, (_, i) => memberId(BigInt(i + 1)));
        for (const id of [...voters, ...learners]) {
          const storage = new MemoryRaftStorage({ voters, learners });
          const raw = new RawNode({
            id, storage, rng: new SeededRng(Number(id)), preVote: opts['preVote'] !== 'false',
            checkQuorum: opts['checkQuorum'] !== 'false',
          });
          this.nodes.set(id, { raw, storage });
          this.mailbox.set(id, []);
        }
        return `added ${voters.length + learners.length} nodes`;
      }
      case 'campaign': n(args[0]).raw.campaign(); return 'ok';
      case 'propose': return result(n(args[0]).raw.propose(args.slice(1).map(utf8)));
      case 'propose-conf-change':
        return result(n(args[0]).raw.proposeConfChange({ type: args[1] as ConfChangeType, nodeId: memberId(BigInt(args[2]!)) }));
      case 'read-index': return result(n(args[0]).raw.readIndex(utf8(args[1]!)));
      case 'transfer-leader': return result(n(args[0]).raw.transferLeader(memberId(BigInt(args[1]!))));
      case 'tick': {
        const node = n(args[0]);
        for (let i = 0; i < Number(args[1] ?? 1); i++) node.raw.tick();
        return 'ok';
      }
      case 'isolate': this.cut.add(memberId(BigInt(args[0]!))); return 'ok';
      case 'recover': this.cut.clear(); return 'ok';
      case 'process-ready': return ids(args).map((id) => this.processReady(id)).join('\n');
      case 'deliver-msgs': return ids(args).map((id) => this.deliver(id)).join('\n');
      case 'stabilize': return this.stabilize();
      case 'status': {
        const s = n(args[0]).raw.status();
        return `${s.id}: ${s.role} term=${s.term} lead=${s.lead} commit=${s.commit} applied=${s.applied} last=${s.lastIndex}`;
      }
      default: throw new Error(`unknown command ${cmd}`);
    }
  }

  processReady(id: MemberId): string {
    const node = this.nodes.get(id)!;
    if (!node.raw.hasReady()) return `> ${id}: no Ready`;
    const rd = node.raw.ready();
    node.storage.persistSync(rd);
    for (const m of [...rd.messages, ...rd.messagesAfterPersist]) this.mailbox.get(m.to)?.push(m);
    for (const e of rd.committedEntries) if (e.type === 'confChange') node.raw.raft.applyConfChangeEntry(e);
    node.raw.advance(rd);
    return `> ${id} handling Ready\n${indent(describeReady(rd))}`;
  }

  deliver(id: MemberId): string {
    const msgs = this.mailbox.get(id) ?? [];
    this.mailbox.set(id, []);
    const lines: string[] = [];
    for (const m of msgs) {
      if (this.cut.has(m.from) || this.cut.has(m.to)) {
        lines.push(`  ${describeMessage(m)} DROPPED`);
        continue;
      }
      lines.push(`  ${describeMessage(m)}`);
      this.nodes.get(id)?.raw.step(m);
    }
    return lines.length === 0 ? `> ${id}: no messages` : `> ${id} receiving messages\n${lines.join('\n')}`;
  }

  stabilize(): string {
    const out: string[] = [];
    for (let round = 0; round < 100; round++) {
      let busy = false;
      for (const id of this.nodes.keys()) {
        if (this.nodes.get(id)!.raw.hasReady()) {
          busy = true;
          out.push(this.processReady(id));
        }
      }
      for (const id of this.nodes.keys()) {
        if ((this.mailbox.get(id) ?? []).length > 0) {
          busy = true;
          out.push(this.deliver(id));
        }
      }
      if (!busy) return out.join('\n');
    }
    throw new Error('did not stabilize');
  }
}

function result(r: { ok: boolean; code?: string; why?: string }): string {
  return r.ok ? 'ok' : `${r.code}: ${r.why}`;
}

function indent(s: string): string {
  return s.split('\n').map((l) => `  ${l}`).join('\n');
}

interface Block { command: string; expected: string }

/** Blocks are separated by blank lines (outputs never contain one); `#` lines are comments. */
function parse(text: string): Block[] {
  const blocks: Block[] = [];
  for (const chunk of text.split(/\n\s*\n/)) {
    const lines = chunk.split('\n').filter((l) => !l.startsWith('#') && l.trim() !== '');
    if (lines.length === 0) continue;
    if (lines[1] !== '----') throw new Error(`block "${lines[0]}" lacks its ---- line`);
    blocks.push({ command: lines[0]!.trim(), expected: lines.slice(2).join('\n') });
  }
  return blocks;
}

for (const file of readdirSync(testdata).filter((f) => f.endsWith('.txt')).sort()) {
  t.test(file, async (t) => {
    const path = join(testdata, file);
    const blocks = parse(readFileSync(path, 'utf8'));
    const engine = new Interaction();
    const rewritten: string[] = [];
    for (const b of blocks) {
      const [cmd, ...args] = b.command.split(/\s+/);
      const got = engine.run(cmd!, args);
      rewritten.push(`${b.command}\n----\n${got}`);
      if (process.env['UPDATE_GOLDEN'] !== '1') t.equal(got, b.expected, b.command);
    }
    if (process.env['UPDATE_GOLDEN'] === '1') {
      writeFileSync(path, `${rewritten.join('\n\n')}\n`);
      t.pass(`rewrote ${file}`);
    }
  });
}
