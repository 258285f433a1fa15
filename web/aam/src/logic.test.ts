import { describe, expect, it } from 'vitest';
import { ApiError } from '@ovu/shared';
import {
  mustEnrol,
  safeNext,
  chartPaths,
  enumValues,
  groupChanges,
  groupSettings,
  savedInput,
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
    // Valid JSON that is not an object is not an object setting.
    expect(inputToSetting('object', '1')).toEqual({ error: 'invalid' });
    expect(inputToSetting('object', 'null')).toEqual({ error: 'invalid' });
    expect(inputToSetting('object', '[1]')).toEqual({ value: [1] });
    expect(inputToSetting('integer', '')).toEqual({ error: 'invalid' });
    expect(inputToSetting('boolean', 'yes')).toEqual({ error: 'invalid' });
    expect(inputToSetting('text', 'hello')).toEqual({ value: 'hello' });
    expect(settingToInput('text', null)).toBe('');
    expect(enumValues({ type: 'string', enum: ['en', 'he', 'ar'] })).toEqual(['en', 'he', 'ar']);
    expect(enumValues({})).toEqual([]);
    expect(schemaBounds({ minimum: 1, maximum: 9, maxLength: 3 })).toEqual({ min: 1, max: 9, maxLength: 3 });
  });

  it("a group's changes: only touched keys whose parsed value differs, typed; bad input sends nothing", () => {
    const base = { sensitive: false, source: 'aam' };
    const items = [
      { ...base, category: 'g', key: 'on', type: 'boolean', value: false },
      { ...base, category: 'g', key: 'n', type: 'integer', value: 60 },
      { ...base, category: 'g', key: 's', type: 'text', value: 'OVU' },
      { ...base, category: 'g', key: 'e', type: 'enum', value: 'info' },
      { ...base, category: 'g', key: 'secret', type: 'url', value: '••••••', sensitive: true },
      { ...base, category: 'g', key: 'policy', type: 'object', value: { a: 1 }, source: 'ulm' },
    ];
    expect(savedInput(items[4]!)).toBe('');
    expect(savedInput(items[1]!)).toBe('60');
    expect(groupChanges(items, {})).toEqual({ changed: {}, invalid: [] });
    // Retyped to the same value (or with spaces), an empty secret box, a read-only key: nothing to send.
    expect(groupChanges(items, { 'g.n': ' 60 ', 'g.s': 'OVU', 'g.secret': '', 'g.policy': '{"a":2}', 'g.on': 'false' })).toEqual({ changed: {}, invalid: [] });
    expect(groupChanges(items, { 'g.on': 'true', 'g.n': '120', 'g.s': 'OVU 2', 'g.e': 'critical', 'g.secret': 'https://h.example/x' })).toEqual({
      changed: { 'g.on': true, 'g.n': 120, 'g.s': 'OVU 2', 'g.e': 'critical', 'g.secret': 'https://h.example/x' },
      invalid: [],
    });
    // Bounds are the server's to check; types are checked here.
    expect(groupChanges(items, { 'g.n': '5' }).changed).toEqual({ 'g.n': 5 });
    expect(groupChanges(items, { 'g.n': '6.5', 'g.s': 'x' })).toEqual({ changed: { 'g.s': 'x' }, invalid: ['g.n'] });
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
