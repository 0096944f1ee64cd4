/**
 * Actor addresses. An address is `member/actor` (`"m1/raft"`): the member names the cluster
 * member (one process in production, one slice of a simulation), the actor names the part of it.
 * Both halves are non-empty and neither contains a slash, so `memberOf` is a cheap split.
 */
import { assert } from '../base/index.js';

export type Address = string;

const ADDRESS_RE = /^[^/\s]+\/[^/\s]+$/;

/** Asserts that `address` has the `member/actor` shape and returns it. */
export function assertAddress(address: string): Address {
  assert(ADDRESS_RE.test(address), `actor address must be "member/actor", got ${JSON.stringify(address)}`);
  return address;
}

/** Builds `member/actor`, checking both halves. */
export function address(member: string, actor: string): Address {
  return assertAddress(`${member}/${actor}`);
}

/** The member half of an address. */
export function memberOf(address: Address): string {
  const slash = address.indexOf('/');
  assert(slash > 0, `actor address without a member: ${address}`);
  return address.slice(0, slash);
}
