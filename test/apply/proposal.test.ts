/**
 * The proposal encoding: put and deleteRange take the binary layout and come back exactly (every
 * optional field combination, extreme ids, origins and leases), with bytes fields as views into
 * the entry's data; the same proposal always gives the same bytes; every other command, and a
 * put or deleteRange with a boolean field present but false, goes as msgpack and also comes back
 * exactly; a truncated, overlong or otherwise malformed binary record fails with an assertion.
 */
import t from 'tap';
import { AssertionError, utf8 } from '../../src/base/index.js';
import { decodeProposal, encodeProposal, type Command, type Proposal } from '../../src/apply/index.js';

const k = utf8('key'), v = utf8('value'), end = utf8('kez');
const optionsOfPut = [
  {}, { lease: 7n }, { lease: 0n }, { lease: -(2n ** 63n) }, { lease: 2n ** 63n - 1n },
  { prevKv: true }, { ignoreValue: true }, { ignoreLease: true },
  { lease: 5n, prevKv: true, ignoreValue: true, ignoreLease: true },
] as const;
const binaryCommands: Command[] = [
  ...optionsOfPut.map((o): Command => ({ kind: 'put', req: { key: k, value: v, ...o } })),
  { kind: 'put', req: { key: new Uint8Array(0), value: new Uint8Array(0) } },
  { kind: 'put', req: { key: k, value: new Uint8Array(70_000).fill(3) } },
  { kind: 'deleteRange', req: { key: k } },
  { kind: 'deleteRange', req: { key: k, rangeEnd: end } },
  { kind: 'deleteRange', req: { key: k, rangeEnd: new Uint8Array(0), prevKv: true } },
  { kind: 'deleteRange', req: { key: k, prevKv: true } },
];
const msgpackCommands: Command[] = [
  { kind: 'put', req: { key: k, value: v, prevKv: false } },
  { kind: 'deleteRange', req: { key: k, prevKv: false } },
  { kind: 'txn', req: { compare: [], success: [{ requestPut: { key: k, value: v, lease: 5n } }], failure: [] } },
  { kind: 'compact', req: { revision: 9, physical: true } },
  { kind: 'leaseGrant', id: 2n ** 62n, ttlSeconds: 30 },
  { kind: 'leaseRevoke', id: 3n },
];
const heads: Array<Pick<Proposal, 'id' | 'origin'>> = [
  { id: 0, origin: 0n }, { id: 42, origin: 2n ** 63n }, { id: -17, origin: 2n ** 64n - 1n },
  { id: Number.MAX_SAFE_INTEGER, origin: 1n }, { id: Number.MIN_SAFE_INTEGER, origin: 9n },
];

/** Plain form for comparison: key sets must match exactly, bytes as arrays. */
function plain(x: unknown): unknown {
  if (x instanceof Uint8Array) return [...x];
  if (Array.isArray(x)) return x.map(plain);
  if (typeof x === 'object' && x !== null) {
    return Object.fromEntries(Object.keys(x).sort().map((key) => [key, plain((x as Record<string, unknown>)[key])]));
  }
  return x;
}

t.test('put and deleteRange take the binary layout and come back exactly', async (t) => {
  for (const command of binaryCommands) {
    for (const h of heads) {
      const p: Proposal = { ...h, command };
      const data = encodeProposal(p);
      t.not(data[0], 0x93, `${command.kind} is binary`);
      t.same(encodeProposal(p), data, 'the same proposal gives the same bytes');
      const back = decodeProposal(data);
      if (JSON.stringify(plain(back), (_, x) => typeof x === 'bigint' ? `${x}n` : x)
        !== JSON.stringify(plain(p), (_, x) => typeof x === 'bigint' ? `${x}n` : x)) {
        t.fail(`round trip of ${command.kind} ${JSON.stringify(plain(command))} id ${h.id}`);
      }
      const c = back.command;
      const key = c.kind === 'put' ? c.req.key : c.kind === 'deleteRange' ? c.req.key : undefined;
      t.equal(key?.buffer, data.buffer, 'the key is a view into the entry data');
    }
  }
});

t.test('other commands, and booleans present but false, go as msgpack and come back exactly', async (t) => {
  for (const command of msgpackCommands) {
    const p: Proposal = { id: 3, origin: 2n, command };
    const data = encodeProposal(p);
    t.equal(data[0], 0x93, `${command.kind} is msgpack`);
    t.equal(data.buffer.byteLength, data.length, `${command.kind}: exact-size bytes, as it crosses threads`);
    t.same(plain(decodeProposal(data)), plain(p));
  }
});

t.test('a malformed binary record fails loudly', async (t) => {
  const put = encodeProposal({ id: 1, origin: 1n, command: { kind: 'put', req: { key: k, value: v, lease: 3n } } });
  const del = encodeProposal({ id: 1, origin: 1n, command: { kind: 'deleteRange', req: { key: k, rangeEnd: end } } });
  for (const data of [put, del]) {
    for (let n = 0; n < data.length; n++) {
      t.throws(() => decodeProposal(data.subarray(0, n)), AssertionError, `cut to ${n} bytes`);
    }
    const longer = new Uint8Array(data.length + 1);
    longer.set(data);
    t.throws(() => decodeProposal(longer), AssertionError, 'a byte after the last field');
    const badTag = Uint8Array.from(data);
    badTag[0] = 0x07;
    t.throws(() => decodeProposal(badTag), AssertionError, 'an unknown tag');
    const badFlags = Uint8Array.from(data);
    badFlags[17] = badFlags[17]! | 0x80;
    t.throws(() => decodeProposal(badFlags), AssertionError, 'an unknown flag');
    const badLength = Uint8Array.from(data);
    badLength[data[0] === 1 ? 26 : 18] = 0x7f;
    t.throws(() => decodeProposal(badLength), AssertionError, 'a key length beyond the record');
    const badId = Uint8Array.from(data);
    badId.set([0x7f, 0xf8, 0, 0, 0, 0, 0, 0], 1);
    t.throws(() => decodeProposal(badId), AssertionError, 'an id that is not a safe integer (NaN)');
  }
  t.throws(() => encodeProposal({ id: 1.5, origin: 1n, command: { kind: 'put', req: { key: k, value: v } } }), AssertionError);
  t.throws(() => encodeProposal({ id: 1, origin: -1n, command: { kind: 'put', req: { key: k, value: v } } }), AssertionError);
});
