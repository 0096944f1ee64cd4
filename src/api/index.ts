/**
 * src/api: strata's wire contract with etcd clients. It owns the vendored etcd protos
 * (src/api/proto/, with strata's extension fields), the message codecs and their TS shapes, the
 * 64-bit integer policy (src/api/int64.ts) and the one catalog of wire errors. Pure: no I/O, no
 * node: modules; protobufjs is its only dependency besides src/base.
 *
 * Invariants: decoded messages have every scalar present; bytes fields are Uint8Array; lease,
 * member and cluster IDs are bigint, every other 64-bit field a safe-integer number; encoding is
 * canonical (zero scalars omitted) and identical between the reflection and hot codecs.
 */
import type { Codec, MessageName } from './codec.js';
import { reflectCodec } from './codec.js';
import { hotCodecs } from './hot-codecs.js';
import type { MessageTypes } from './types.generated.js';

export type { Codec, Init, MessageName } from './codec.js';
export { protoRoot, reflectCodec } from './codec.js';
export {
  GatewayJsonError, base64ErrorIndex, jsonAlias, jsonCodecByName, jsonCodecFor, parseJsonExact,
} from './gateway-json.js';
export type { JsonCodec } from './gateway-json.js';
export { hotCodecs } from './hot-codecs.js';
export * from './types.generated.js';
export {
  BIGINT_FIELDS, assertWireInteger, bigintToBits, int64BitsToBigint, int64BitsToNumber,
  uint64BitsToBigint, uint64BitsToNumber,
} from './int64.js';
export type { LongBitsLike } from './int64.js';
export type { CatalogEntry, EtcdErrorCode } from './errors.js';
export {
  EtcdError, GrpcCode, WatchCancelReason, catalogEntryByMessage, errorCatalog, httpStatusOf,
  isEtcdError,
} from './errors.js';

const cache = new Map<string, Codec<unknown>>(Object.entries(hotCodecs) as [string,
  Codec<unknown>][]);

/** The codec for a message: the hand-written one where there is one, reflection otherwise. */
export function codecFor<N extends MessageName>(typeName: N): Codec<MessageTypes[N]> {
  let codec = cache.get(typeName);
  if (codec === undefined) {
    codec = reflectCodec(typeName) as Codec<unknown>;
    cache.set(typeName, codec);
  }
  return codec as Codec<MessageTypes[N]>;
}
