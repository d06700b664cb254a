import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SspiError } from '../../../src/sspi/error.js';
import { ASC_REQ, ISC_REQ, flagAnd, flagNames, flagOr, hasFlag } from '../../../src/sspi/flags.js';
import { NT_SUCCESS, NtStatus, SecurityStatus, statusName, toSecurityStatus } from '../../../src/sspi/status.js';
import { TIMESTAMP_INFINITE, fileTimeFromUnixMs, isExpired, timeStampFromUnixMs, unixMsFromTimeStamp } from '../../../src/sspi/timestamp.js';

describe('status codes', () => {
  it('carries exact values and names', () => {
    assert.equal(SecurityStatus.SEC_E_LOGON_DENIED, 0x8009030c);
    assert.equal(SecurityStatus.SEC_I_CONTINUE_NEEDED, 0x00090312);
    assert.equal(NtStatus.STATUS_NO_SUCH_PACKAGE, 0xc00000fe);
    assert.equal(statusName(0x8009030c), 'SEC_E_LOGON_DENIED');
    assert.equal(statusName(-2146893044), 'SEC_E_LOGON_DENIED', 'signed HRESULT form resolves too');
    assert.equal(statusName(0x12345678), '0x12345678');
    assert.equal(NT_SUCCESS(SecurityStatus.SEC_I_CONTINUE_NEEDED), true);
    assert.equal(NT_SUCCESS(SecurityStatus.SEC_E_INVALID_TOKEN), false);
  });

  it('maps NTSTATUS failures to SSPI codes (reference section 11)', () => {
    assert.equal(toSecurityStatus(NtStatus.STATUS_LOGON_FAILURE), SecurityStatus.SEC_E_LOGON_DENIED);
    assert.equal(toSecurityStatus(NtStatus.STATUS_ACCOUNT_LOCKED_OUT), SecurityStatus.SEC_E_LOGON_DENIED);
    assert.equal(toSecurityStatus(NtStatus.STATUS_BAD_BINDINGS), SecurityStatus.SEC_E_BAD_BINDINGS);
    assert.equal(toSecurityStatus(NtStatus.STATUS_NO_SUCH_PACKAGE), SecurityStatus.SEC_E_SECPKG_NOT_FOUND);
    assert.equal(toSecurityStatus(NtStatus.STATUS_NO_LOGON_SERVERS), SecurityStatus.SEC_E_NO_AUTHENTICATING_AUTHORITY);
    assert.equal(toSecurityStatus(SecurityStatus.SEC_E_TIME_SKEW), SecurityStatus.SEC_E_TIME_SKEW);
    assert.equal(toSecurityStatus(0xc0001234), SecurityStatus.SEC_E_INTERNAL_ERROR);
  });

  it('SspiError narrows on its code', () => {
    const e = new SspiError(SecurityStatus.SEC_E_LOGON_DENIED, 'bad password');
    assert.equal(e.code, 'SEC_E_LOGON_DENIED');
    assert.equal(e.status, 0x8009030c);
    assert.match(e.message, /SEC_E_LOGON_DENIED \(0x8009030C\): bad password/);
    assert.ok(SspiError.is(e, 0x8009030c));
  });
});

describe('flags', () => {
  it('handle bits above 31', () => {
    const set = flagOr(ISC_REQ.MESSAGES, ISC_REQ.MUTUAL_AUTH);
    assert.equal(set, 0x1_0000_0002);
    assert.ok(hasFlag(set, ISC_REQ.MESSAGES));
    assert.ok(!hasFlag(set, ISC_REQ.NO_POST_HANDSHAKE_AUTH));
    assert.equal(flagAnd(set, ISC_REQ.MESSAGES), ISC_REQ.MESSAGES);
    assert.deepEqual(flagNames(set, ISC_REQ), ['MUTUAL_AUTH', 'MESSAGES']);
    assert.notEqual(ASC_REQ.EXTENDED_ERROR, ISC_REQ.EXTENDED_ERROR);
  });
});

describe('TimeStamp', () => {
  it('converts FILETIME ticks and local time', () => {
    assert.equal(fileTimeFromUnixMs(0), 116444736000000000n);
    const now = Date.now();
    assert.equal(unixMsFromTimeStamp(timeStampFromUnixMs(now)), now);
    assert.equal(unixMsFromTimeStamp(TIMESTAMP_INFINITE), Infinity);
    assert.equal(isExpired(timeStampFromUnixMs(now - 1000)), true);
    assert.equal(isExpired(TIMESTAMP_INFINITE), false);
    assert.equal(isExpired(0n), false);
  });

  it('instants outside FILETIME or Date range clamp instead of throwing: "never" above, the first tick (expired) below', () => {
    for (const ms of [Infinity, NaN, 8.64e15 + 1, 1e300, 9.2e14, 8.64e15]) assert.equal(timeStampFromUnixMs(ms), TIMESTAMP_INFINITE, String(ms));
    for (const ms of [-Infinity, -1e300, -8.64e15, -1.2e13]) {
      assert.equal(timeStampFromUnixMs(ms), 1n, String(ms));
      assert.equal(isExpired(timeStampFromUnixMs(ms)), true);
    }
  });
});
