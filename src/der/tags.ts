// X.690 8.1.2 identifier octets. Only low tag numbers (< 31) are used by Kerberos, SPNEGO and
// GSS-API, so a tag is always one octet and is handled as a plain number.

/** Universal class tags as full identifier octets (primitive unless noted). */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OBJECT_IDENTIFIER: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  IA5_STRING: 0x16,
  GENERALIZED_TIME: 0x18,
  GENERAL_STRING: 0x1b,
  /** SEQUENCE and SEQUENCE OF are always constructed (X.690 8.9.1). */
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Identifier octet class and form bits (X.690 8.1.2.2, 8.1.2.5). */
export const TagClass = { UNIVERSAL: 0x00, APPLICATION: 0x40, CONTEXT: 0x80, PRIVATE: 0xc0 } as const;
export const CONSTRUCTED = 0x20;

function lowTag(cls: number, n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 30) throw new RangeError(`tag number ${n} needs the high-tag form`);
  return cls | CONSTRUCTED | n;
}

// Precomputed, since every Kerberos field is an [n] EXPLICIT wrapper.
const CTX: readonly number[] = Array.from({ length: 31 }, (_, n) => lowTag(TagClass.CONTEXT, n));
const APP: readonly number[] = Array.from({ length: 31 }, (_, n) => lowTag(TagClass.APPLICATION, n));

/** Identifier octet of a constructed context-specific tag [n] (EXPLICIT tagging is always constructed). */
export function ctx(n: number): number {
  return CTX[n] ?? lowTag(TagClass.CONTEXT, n);
}

/** Identifier octet of a constructed [APPLICATION n]. */
export function app(n: number): number {
  return APP[n] ?? lowTag(TagClass.APPLICATION, n);
}

/** A readable name for error messages. */
export function tagName(tag: number): string {
  if (tag < 0) return 'end of data';
  const n = tag & 0x1f;
  switch (tag & 0xc0) {
    case TagClass.APPLICATION:
      return `[APPLICATION ${n}]`;
    case TagClass.CONTEXT:
      return `[${n}]`;
    case TagClass.PRIVATE:
      return `[PRIVATE ${n}]`;
  }
  for (const [k, v] of Object.entries(Tag)) if (v === tag) return k.replace('_', ' ');
  return `tag 0x${tag.toString(16).padStart(2, '0')}`;
}
