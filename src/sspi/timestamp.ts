// TimeStamp (FILETIME: signed 64-bit count of 100 ns ticks since 1601-01-01), reference section 12.
// Expiry TimeStamps returned through SSPI are in local time; wire times are UTC, so packages use
// these helpers at the API boundary.

export type TimeStamp = bigint;

export const EPOCH_OFFSET_TICKS = 116444736000000000n;
/** The "never expires" convention: the largest positive LARGE_INTEGER. */
export const TIMESTAMP_INFINITE: TimeStamp = 0x7fffffffffffffffn;
/** 0 means unknown / not set. */
export const TIMESTAMP_NONE: TimeStamp = 0n;

/** UTC milliseconds since the Unix epoch -> FILETIME ticks (UTC). */
export function fileTimeFromUnixMs(ms: number): bigint {
  return BigInt(Math.trunc(ms)) * 10000n + EPOCH_OFFSET_TICKS;
}

/** FILETIME ticks (UTC) -> Unix milliseconds. */
export function unixMsFromFileTime(ft: bigint): number {
  return Number((ft - EPOCH_OFFSET_TICKS) / 10000n);
}

// The offset of the last minute asked about: zone offsets change on whole minutes, and most calls
// ask about the current one (a Date and a zone lookup per call showed in handshake profiles).
let offsetMinute = Number.NaN;
let offsetMs = 0;

function localOffsetMs(utcMs: number): number {
  const minute = Math.floor(utcMs / 60000);
  if (minute !== offsetMinute) {
    // getTimezoneOffset is minutes *behind* UTC; local = utc - offset.
    offsetMs = -new Date(utcMs).getTimezoneOffset() * 60000;
    offsetMinute = minute;
  }
  return offsetMs;
}

/** The instants a Date holds (ECMA-262 21.4.1.1): ±this many ms; no zone offset can be asked beyond. */
export const DATE_LIMIT_MS = 8.64e15;

/**
 * A UTC instant (Unix ms) as an SSPI expiry TimeStamp in local time. Clamped to FILETIME's range:
 * past its end (year 30828) it is "never", and before 1601 the earliest tick (already expired);
 * 0 stays reserved for "not set". Instants come from peers' tokens and parked records too.
 */
export function timeStampFromUnixMs(utcMs: number): TimeStamp {
  if (!(utcMs < DATE_LIMIT_MS)) return TIMESTAMP_INFINITE; // +Infinity, NaN and past Date's range
  if (!(utcMs > -DATE_LIMIT_MS)) return 1n;
  const ft = fileTimeFromUnixMs(utcMs + localOffsetMs(utcMs));
  return ft >= TIMESTAMP_INFINITE ? TIMESTAMP_INFINITE : ft < 1n ? 1n : ft;
}

/** An SSPI local-time TimeStamp back to a UTC instant (Unix ms); Infinity for "never". */
export function unixMsFromTimeStamp(ts: TimeStamp): number {
  if (ts >= TIMESTAMP_INFINITE) return Number.POSITIVE_INFINITY;
  const local = unixMsFromFileTime(ts);
  return local - localOffsetMs(local);
}

export function timeStampToDate(ts: TimeStamp): Date | null {
  if (ts === TIMESTAMP_NONE) return null;
  const ms = unixMsFromTimeStamp(ts);
  return Number.isFinite(ms) ? new Date(ms) : null;
}

/** True when `ts` is set, finite and in the past. */
export function isExpired(ts: TimeStamp, nowMs: number = Date.now()): boolean {
  if (ts === TIMESTAMP_NONE || ts >= TIMESTAMP_INFINITE) return false;
  return unixMsFromTimeStamp(ts) <= nowMs;
}
