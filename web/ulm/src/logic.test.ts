import { describe, expect, it } from 'vitest';
import { expiryFromDays, groupSecret, linkToken, recoveryCodesFile, safeNext, scopeGroups, withoutLinkToken } from './logic';

describe('account logic', () => {
  it('writes the recovery codes file one code a line', () => {
    expect(recoveryCodesFile('H', ['a', 'b'])).toBe('H\n\na\nb\n');
  });

  it('computes key expiry, or none', () => {
    expect(expiryFromDays(0)).toBeNull();
    expect(expiryFromDays(30, Date.parse('2026-01-01T00:00:00Z'))).toBe('2026-01-31T00:00:00.000Z');
  });

  it('groups scopes by resource, sorted and unique', () => {
    expect(scopeGroups(['users:write', 'audit:read', 'users:read', 'users:read'])).toEqual([
      ['audit', ['audit:read']],
      ['users', ['users:read', 'users:write']],
    ]);
  });

  it('only follows next= inside the app (no open redirect)', () => {
    expect(safeNext('/account/mfa')).toBe('/account/mfa');
    expect(safeNext('//evil.example')).toBe('/');
    expect(safeNext('https://evil.example')).toBe('/');
    expect(safeNext('/\\evil')).toBe('/');
    expect(safeNext(null)).toBe('/');
  });

  it('groups a base32 secret in fours', () => {
    expect(groupSecret('ABCDEFGHIJ')).toBe('ABCD EFGH IJ');
  });
  it('reads a link token from the fragment, or from the query of older mail', () => {
    expect(linkToken('#token=abc', '')).toBe('abc');
    expect(linkToken('#token=abc', '?token=old')).toBe('abc');
    expect(linkToken('', '?token=old')).toBe('old');
    expect(linkToken('#other=1', '?x=1')).toBeNull();
    expect(linkToken('', '')).toBeNull();
  });

  it('drops the token from the address, keeping the rest of the query', () => {
    expect(withoutLinkToken('/verify-email', '?token=abc')).toBe('/verify-email');
    expect(withoutLinkToken('/reset-password', '?lang=he&token=abc')).toBe('/reset-password?lang=he');
    expect(withoutLinkToken('/verify-email', '')).toBe('/verify-email');
  });
});
