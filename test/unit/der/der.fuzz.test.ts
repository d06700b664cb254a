import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { derProperties } from './der.properties.js';

describe('DER fuzz properties', () => {
  for (const [name, prop] of derProperties()) {
    it(name, () => fc.assert(prop, { numRuns: 400 }));
  }
});
