// RFC 5929 section 4 "tls-server-end-point" channel bindings, computed by the HTTP client from the
// certificate the server presented on the TLS connection the handshake runs over.

import { createHash } from 'node:crypto';
import { DerReader, Tag, ctx } from '../der/index.js';

/** RFC 5929 4.1: the prefix of the channel binding's application data. */
const PREFIX = 'tls-server-end-point:';

// Signature algorithm OID -> hash it uses, for the algorithms whose hash is stronger than SHA-256.
const SIG_HASH: Readonly<Record<string, 'sha384' | 'sha512'>> = {
  '1.2.840.113549.1.1.12': 'sha384', // sha384WithRSAEncryption
  '1.2.840.113549.1.1.13': 'sha512', // sha512WithRSAEncryption
  '1.2.840.10045.4.3.3': 'sha384', // ecdsa-with-SHA384
  '1.2.840.10045.4.3.4': 'sha512', // ecdsa-with-SHA512
};
const HASH_OID: Readonly<Record<string, 'sha384' | 'sha512'>> = {
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const RSASSA_PSS = '1.2.840.113549.1.1.10';

/**
 * RFC 5929 4.1: the certificate's signature hash, except that MD5 and SHA-1 (and anything we can't
 * name, Ed25519 included) become SHA-256.
 */
export function endPointHash(certDer: Uint8Array): 'sha256' | 'sha384' | 'sha512' {
  try {
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm AlgorithmIdentifier, signatureValue }
    const r = new DerReader(certDer);
    r.enter(Tag.SEQUENCE);
    r.readRaw(Tag.SEQUENCE);
    r.enter(Tag.SEQUENCE);
    const oid = r.readOid();
    if (oid === RSASSA_PSS && r.enterIf(Tag.SEQUENCE)) {
      // RSASSA-PSS-params (RFC 4055 3.1): hashAlgorithm [0] DEFAULT sha1
      if (r.enterIf(ctx(0))) {
        r.enter(Tag.SEQUENCE);
        return HASH_OID[r.readOid()] ?? 'sha256';
      }
      return 'sha256';
    }
    return SIG_HASH[oid] ?? 'sha256';
  } catch {
    return 'sha256';
  }
}

/** The channel binding application data: "tls-server-end-point:" followed by the certificate hash. */
export function tlsServerEndPoint(certDer: Uint8Array): Uint8Array {
  const hash = createHash(endPointHash(certDer)).update(certDer).digest();
  const out = new Uint8Array(PREFIX.length + hash.length);
  out.set(Buffer.from(PREFIX, 'ascii'), 0);
  out.set(hash, PREFIX.length);
  return out;
}
