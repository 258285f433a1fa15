import { describe, expect, it } from 'vitest';
import { formatDate, formatDateTime, formatDay, formatNumber, formatRelative } from './format';
import { resolveTheme, applyTheme } from './theme';

describe('format', () => {
  it('formats numbers and dates per language through Intl', () => {
    expect(formatNumber('en', 12345)).toBe('12,345');
    expect(formatNumber('ar', 12345)).toMatch(/^12.345$/); // Latin digits in Arabic too
    expect(formatDate('en', '2026-01-05T10:00:00Z')).toContain('2026');
    expect(formatDate('he', null)).toBe('—');
    expect(formatDateTime('en', 'not a date')).toBe('—');
    expect(formatDay('en', '2026-03-09')).toMatch(/Mar/);
  });

  it('says how far away a time is in the largest unit', () => {
    const now = Date.parse('2026-01-10T00:00:00Z');
    expect(formatRelative('en', '2026-01-13T00:00:00Z', now)).toBe('in 3 days');
    expect(formatRelative('en', '2026-01-09T23:55:00Z', now)).toBe('5 minutes ago');
  });
});

describe('theme', () => {
  it('resolves system to the media preference and marks <html>', () => {
    expect(resolveTheme('system', true)).toBe('dark');
    expect(resolveTheme('light', true)).toBe('light');
    expect(applyTheme('dark')).toBe('dark');
    expect(document.documentElement.dataset['theme']).toBe('dark');
  });
});
