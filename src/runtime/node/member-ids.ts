/**
 * Member and cluster ids, derived as etcd 3.4 derives them (membership.NewMember and
 * RaftCluster.genID), so the same flags give the same ids on any machine and etcd's tools that
 * compare raw headers see the values they expect.
 */
import { createHash } from 'node:crypto';

/**
 * First 8 bytes, big-endian, of SHA-1 over the sorted peer URLs concatenated, then `suffix`: the
 * cluster token for --initial-cluster's members; the Unix time in seconds for MemberAdd's (etcd's
 * membership.NewMember with no cluster name).
 */
export function memberIdOf(peerUrls: readonly string[], suffix: string): bigint {
  const hash = createHash('sha1').update([...peerUrls].sort().join('') + suffix).digest();
  return hash.readBigUInt64BE(0);
}

/** First 8 bytes of SHA-1 over the sorted member ids, each as 8 big-endian bytes. */
export function clusterIdOf(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => buf.writeBigUInt64BE(id, 8 * i));
  return createHash('sha1').update(buf).digest().readBigUInt64BE(0);
}
