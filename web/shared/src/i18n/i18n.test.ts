import { describe, expect, it } from 'vitest';
import { createI18n, dirOf, pickLanguage, applyDocumentLanguage, deepMerge } from './index';
import en from './en';
import he from './he';
import ar from './ar';
import { errorText, fieldError } from '../errorText';
import { ApiError } from '../api/errors';

function keys(o: object, prefix = ''): string[] {
  return Object.entries(o).flatMap(([k, v]) => (typeof v === 'object' ? keys(v as object, `${prefix}${k}.`) : [`${prefix}${k}`]));
}

describe('i18n', () => {
  it('has the same keys, all non-empty, in every language', () => {
    const k = keys(en).sort();
    expect(keys(he).sort()).toEqual(k);
    expect(keys(ar).sort()).toEqual(k);
    for (const l of [en, he, ar]) for (const key of keys(l)) expect(key.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown>)[p], l)).not.toBe('');
  });

  it('picks a stored language, then the browser, then Hebrew', () => {
    expect(pickLanguage('ar', ['en-US'])).toBe('ar');
    expect(pickLanguage('xx', ['fr-FR', 'en-GB'])).toBe('en');
    expect(pickLanguage(null, ['iw-IL'])).toBe('he');
    expect(pickLanguage(null, ['fr'])).toBe('he');
  });

  it('sets lang and dir on <html> and follows language changes', async () => {
    expect(dirOf('he')).toBe('rtl');
    expect(dirOf('ar')).toBe('rtl');
    expect(dirOf('en')).toBe('ltr');
    const app = { en: { x: { hi: 'Hi' } }, he: { x: { hi: 'שלום' } }, ar: { x: { hi: 'مرحبا' } } };
    const i = createI18n(app, 'en');
    expect(document.documentElement.dir).toBe('ltr');
    expect(i.t('x.hi')).toBe('Hi');
    await i.changeLanguage('he');
    expect(document.documentElement.lang).toBe('he');
    expect(document.documentElement.dir).toBe('rtl');
    expect(i.t('x.hi')).toBe('שלום');
    expect(i.t('common.save')).toBe('שמירה');
    applyDocumentLanguage('ar');
    expect(document.documentElement.dir).toBe('rtl');
  });

  it('formats counts through Intl and picks the plural form', () => {
    const i = createI18n({ en: {}, he: {}, ar: {} }, 'en');
    expect(i.t('common.totalItems', { count: 1 })).toBe('1 item');
    expect(i.t('common.totalItems', { count: 12345 })).toBe('12,345 items');
  });

  it('merges app strings over shared ones without losing siblings', () => {
    expect(deepMerge({ a: { b: '1', c: '2' } }, { a: { c: '3' } })).toEqual({ a: { b: '1', c: '3' } });
  });

  it('translates error codes, with Retry-After and unknown codes', async () => {
    const i = createI18n({ en: {}, he: {}, ar: {} }, 'en');
    const t = i.t.bind(i);
    expect(errorText(t, new ApiError({ status: 401, code: 'invalid_credentials', message: 'server text' }))).toBe(
      'The username, e-mail or password is wrong.',
    );
    expect(errorText(t, new ApiError({ status: 429, code: 'rate_limited', message: '', retryAfter: 17 }))).toContain('17');
    expect(errorText(t, new ApiError({ status: 418, code: 'teapot', message: '' }))).toContain('teapot');
    expect(errorText(t, new Error('x'))).toBe(en.errors.bad_response);
    await i.changeLanguage('ar');
    expect(errorText(t, new ApiError({ status: 403, code: 'forbidden', message: '' }))).toBe(ar.errors.forbidden);
  });

  it('puts a field validation error beside its field', () => {
    const i = createI18n({ en: {}, he: {}, ar: {} }, 'he');
    const t = i.t.bind(i);
    const e = new ApiError({ status: 422, code: 'validation_failed', message: 'x', details: { field: 'new_password', reason: 'too_common' } });
    expect(fieldError(t, e)).toEqual({ field: 'new_password', message: he.validation.too_common });
    expect(fieldError(t, new ApiError({ status: 401, code: 'unauthorized', message: '' }))).toBeNull();
  });
});
