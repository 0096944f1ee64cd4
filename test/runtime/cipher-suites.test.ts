/**
 * cipher-suites.ts: Go's names (etcd's --cipher-suites) to OpenSSL's, in the given order, the TLS
 * 1.3 names accepted without effect (as in Go), an unknown name refused with etcd's error.
 */
import t from 'tap';
import { opensslCiphers } from '../../src/runtime/node/index.js';

t.test('Go names map to OpenSSL names in order; TLS 1.3 names change nothing', async (t) => {
  t.equal(opensslCiphers(['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256']),
    'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256');
  t.equal(opensslCiphers(['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256']),
    'ECDHE-RSA-CHACHA20-POLY1305', "etcd's alias and Go's name are one suite");
  t.equal(opensslCiphers(['TLS_AES_128_GCM_SHA256']), undefined);
  t.equal(opensslCiphers([]), undefined);
});

t.test('an unknown name gets etcd\'s error', async (t) => {
  t.throws(() => opensslCiphers(['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'ECDHE-RSA-AES128-GCM-SHA256']),
    { message: 'unexpected TLS cipher suite "ECDHE-RSA-AES128-GCM-SHA256"' });
});
