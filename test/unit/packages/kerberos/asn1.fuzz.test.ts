import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { kerberosProperties } from './asn1.properties.js';

describe('Kerberos ASN.1 fuzz properties', () => {
  for (const [name, prop] of kerberosProperties()) {
    it(name, () => fc.assert(prop, { numRuns: 60 }));
  }
});
