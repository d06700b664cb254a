// Extended Protection for HTTP: the `tls-server-end-point` channel binding (RFC 5929 section 4)
// computed from the server's own certificate, wrapped as SEC_CHANNEL_BINDINGS for
// AcceptSecurityContext (SECBUFFER_CHANNEL_BINDINGS), as IIS and http.sys do.

import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { derDecode, Tag } from '../der/index.js';
import { buildChannelBindings } from '../sspi/buffers.js';

const PREFIX = new TextEncoder().encode('tls-server-end-point:');

/** Signature algorithm OID -> the hash it uses (RFC 5929 4.1 then maps MD5 and SHA-1 to SHA-256). */
const SIGNATURE_HASH: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.4': 'md5', // md5WithRSAEncryption
  '1.2.840.113549.1.1.5': 'sha1', // sha1WithRSAEncryption
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1', // ecdsa-with-SHA1
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.10040.4.3': 'sha1', // dsa-with-sha1
  '2.16.840.1.101.3.4.3.1': 'sha224', // dsa-with-sha224
  '2.16.840.1.101.3.4.3.2': 'sha256', // dsa-with-sha256
};
const RSASSA_PSS = '1.2.840.113549.1.1.10';
/** id-sha* OIDs inside RSASSA-PSS-params (RFC 4055). */
const DIGEST_OID: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/**
 * The hash RFC 5929 4.1 picks for a certificate: its signature algorithm's, SHA-256 in place of
 * MD5 and SHA-1. Algorithms with no single hash (Ed25519, Ed448) get SHA-256, as OpenSSL does.
 */
export function endPointHash(certDer: Uint8Array): string {
  const { oid, params } = derDecode(certDer, (r) => {
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm AlgorithmIdentifier, signatureValue }
    r.enter(Tag.SEQUENCE);
    r.readRawAny();
    r.enter(Tag.SEQUENCE);
    const oid = r.readOid();
    const params = r.atEnd() ? null : r.readRawAny();
    r.leave();
    r.readRest();
    r.leave();
    return { oid, params };
  });
  let hash = SIGNATURE_HASH[oid] ?? (oid === RSASSA_PSS ? pssHash(params) : 'sha256');
  if (hash === 'md5' || hash === 'sha1') hash = 'sha256';
  return hash;
}

// RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0] AlgorithmIdentifier DEFAULT sha1, ... }
function pssHash(params: Uint8Array | null): string {
  if (!params) return 'sha1';
  return derDecode(params, (r) => {
    r.enter(Tag.SEQUENCE);
    let hash = 'sha1';
    if (r.enterIf(0xa0)) {
      r.enter(Tag.SEQUENCE);
      hash = DIGEST_OID[r.readOid()] ?? 'sha256';
      r.readRest();
      r.leave();
      r.leave();
    }
    r.readRest();
    r.leave();
    return hash;
  });
}

/** The channel binding data: "tls-server-end-point:" followed by the certificate's hash. */
export function tlsServerEndPoint(certDer: Uint8Array): Uint8Array {
  const digest = createHash(endPointHash(certDer)).update(certDer).digest();
  const out = new Uint8Array(PREFIX.length + digest.length);
  out.set(PREFIX);
  out.set(digest, PREFIX.length);
  return out;
}

/** SEC_CHANNEL_BINDINGS carrying `tls-server-end-point` for a certificate (application data only). */
export function serverEndPointBindings(certDer: Uint8Array): Uint8Array {
  return buildChannelBindings(tlsServerEndPoint(certDer));
}

const cache = new WeakMap<object, Uint8Array | null>();

/**
 * SEC_CHANNEL_BINDINGS for the certificate this server presented on a TLS socket; null on a
 * plain socket (there is nothing to bind to) or when the certificate is unavailable.
 */
export function socketChannelBindings(socket: Socket): Uint8Array | null {
  if (!(socket as Partial<TLSSocket>).encrypted) return null;
  if (cache.has(socket)) return cache.get(socket)!;
  let out: Uint8Array | null = null;
  const cert = (socket as TLSSocket).getCertificate?.();
  if (cert && 'raw' in cert && cert.raw instanceof Uint8Array && cert.raw.length) out = serverEndPointBindings(cert.raw);
  cache.set(socket, out);
  return out;
}
