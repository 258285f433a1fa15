import { describe, expect, it } from 'vitest';
import { ApiError } from '@ovu/shared';
import {
  mustEnrol,
  safeNext,
  chartPaths,
  enumValues,
  groupSettings,
  hasPanelAccess,
  healthClass,
  inputToSetting,
  isStatusEvent,
  isoToLocal,
  localToIso,
  nextSort,
  niceMax,
  parseList,
  schemaBounds,
  settingToInput,
  shortJson,
  sortState,
} from './logic';

describe('admin logic', () => {
  it('lets in only tokens with aam:access', () => {
    expect(hasPanelAccess({ sub: 'u', permissions: ['users:read', 'aam:access'] })).toBe(true);
    expect(hasPanelAccess({ sub: 'u', permissions: ['users:read'] })).toBe(false);
    expect(hasPanelAccess(null)).toBe(false);
  });

  it('cycles sort direction per column', () => {
    expect(nextSort('-created_at', 'email')).toBe('email');
    expect(nextSort('email', 'email')).toBe('-email');
    expect(nextSort('-email', 'email')).toBe('email');
    expect(sortState('-email', 'email')).toBe('descending');
    expect(sortState('email', 'username')).toBe('none');
  });

  it('parses comma lists and local date-times', () => {
    expect(parseList(' a, b ,, c ')).toEqual(['a', 'b', 'c']);
    expect(localToIso('')).toBeNull();
    expect(localToIso('garbage')).toBeNull();
    const iso = localToIso('2026-05-01T10:30');
    expect(iso).not.toBeNull();
    expect(isoToLocal(iso)).toBe('2026-05-01T10:30');
    expect(isoToLocal(null)).toBe('');
  });

  it('round-trips typed setting values and refuses bad ones', () => {
    expect(settingToInput('boolean', true)).toBe('true');
    expect(inputToSetting('boolean', 'false')).toEqual({ value: false });
    expect(inputToSetting('integer', ' 42 ')).toEqual({ value: 42 });
    expect(inputToSetting('integer', '4.2')).toEqual({ error: 'invalid' });
    expect(inputToSetting('object', '{"a":1}')).toEqual({ value: { a: 1 } });
    expect(inputToSetting('object', '{')).toEqual({ error: 'invalid' });
    expect(inputToSetting('text', 'hello')).toEqual({ value: 'hello' });
    expect(settingToInput('text', null)).toBe('');
    expect(enumValues({ type: 'string', enum: ['en', 'he', 'ar'] })).toEqual(['en', 'he', 'ar']);
    expect(enumValues({})).toEqual([]);
    expect(schemaBounds({ minimum: 1, maximum: 9, maxLength: 3 })).toEqual({ min: 1, max: 9, maxLength: 3 });
  });

  it('groups settings by category in order', () => {
    const g = groupSettings([
      { category: 'security', key: 'b' },
      { category: 'general', key: 'z' },
      { category: 'security', key: 'a' },
    ]);
    expect(g.map(([c, l]) => [c, l.map((s) => s.key)])).toEqual([
      ['general', ['z']],
      ['security', ['a', 'b']],
    ]);
  });

  it('labels health and status', () => {
    expect(healthClass('healthy')).toBe('ok');
    expect(healthClass('degraded')).toBe('warn');
    expect(healthClass('unhealthy')).toBe('bad');
    expect(isStatusEvent('user_deactivated')).toBe(true);
    expect(isStatusEvent('login_succeeded')).toBe(false);
    expect(shortJson({ a: 'x'.repeat(100) }, 10)).toHaveLength(10);
  });

  it('scales chart series to the plot and rounds the axis up', () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(7)).toBe(10);
    expect(niceMax(130)).toBe(200);
    expect(niceMax(400)).toBe(500);
    const [a] = chartPaths([{ key: 'a', values: [0, 5, 10] }], 100, 50);
    expect(a!.points).toBe('0,50 50,25 100,0');
    const [single] = chartPaths([{ key: 's', values: [3] }], 100, 50);
    expect(single!.points).toBe('50,20'); // axis top is niceMax(3) = 5
  });
});

describe('mustEnrol', () => {
  it('is only the mfa_required refusal, not any 403', () => {
    expect(mustEnrol(new ApiError({ status: 403, code: 'mfa_required', message: 'm' }))).toBe(true);
    expect(mustEnrol(new ApiError({ status: 403, code: 'forbidden', message: 'm' }))).toBe(false);
    expect(mustEnrol(new Error('mfa_required'))).toBe(false);
  });
  it('keeps next on this origin', () => {
    expect(safeNext('/users?q=a')).toBe('/users?q=a');
    expect(safeNext('//evil.example')).toBe('/');
    expect(safeNext(null)).toBe('/');
  });
});
