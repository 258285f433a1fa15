import { describe, expect, it } from 'vitest';
import { createI18n, dirOf, pickLanguage, applyDocumentLanguage, deepMerge, loadLanguage, type AppLocales } from './index';
import { NO_APP_STRINGS, TEST_APP as app, countedLocales as counted } from './testing';
import en from './en';
import he from './he';
import ar from './ar';
import { errorText, fieldError } from '../errorText';
import { ApiError } from '../api/errors';
import { readPref, writePref } from '../prefs';

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
    const i = await createI18n(counted().locales, 'en');
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

  it('fetches a language only when it is used, once, and English never', async () => {
    const { locales, calls } = counted();
    const i = await createI18n(locales, 'en');
    expect(calls).toEqual({ he: 0, ar: 0 });
    await i.changeLanguage('ar');
    expect(calls).toEqual({ he: 0, ar: 1 });
    expect(i.t('x.hi')).toBe('مرحبا');
    expect(i.t('common.save')).toBe(ar.common.save); // the shared strings came with it
    await i.changeLanguage('en');
    await i.changeLanguage('ar');
    expect(calls).toEqual({ he: 0, ar: 1 });

    // The first language is here before createI18n resolves: nothing renders as a key.
    const { locales: l2, calls: c2 } = counted();
    const j = await createI18n(l2, 'he');
    expect(j.language).toBe('he');
    expect(j.t('x.hi')).toBe('שלום');
    expect(document.documentElement.lang).toBe('he');
    expect(c2).toEqual({ he: 1, ar: 0 });
  });

  it('starts in the stored language, else the browser one, and remembers a switch', async () => {
    writePref('lang', 'ar');
    const { locales, calls } = counted();
    const i = await createI18n(locales);
    expect(i.language).toBe('ar');
    expect(calls).toEqual({ he: 0, ar: 1 });
    await i.changeLanguage('he');
    expect(readPref('lang')).toBe('he');
  });

  it('falls back to English for a key a language lacks', async () => {
    const locales: AppLocales = { en: app.en, lazy: { he: () => Promise.resolve({ default: { x: { hi: 'שלום' } } }), ar: () => Promise.resolve({ default: {} }) } };
    const i = await createI18n(locales, 'he');
    expect(i.t('x.hi')).toBe('שלום');
    expect(i.t('x.bye')).toBe('Bye');
  });

  it('shows the language asked for last when fetches finish out of order', async () => {
    let releaseHe: () => void = () => undefined;
    const locales: AppLocales = {
      en: app.en,
      lazy: {
        he: () => new Promise((res) => (releaseHe = () => res({ default: app.he }))),
        ar: () => Promise.resolve({ default: app.ar }),
      },
    };
    const i = await createI18n(locales, 'en');
    const slow = i.changeLanguage('he');
    await i.changeLanguage('ar');
    releaseHe();
    await slow;
    expect(i.language).toBe('ar');
    expect(document.documentElement.lang).toBe('ar');
  });

  it('loads a language on request without switching to it', async () => {
    const { locales, calls } = counted();
    const i = await createI18n(locales, 'en');
    expect(await loadLanguage(i, 'he')).toBe(true);
    expect(i.language).toBe('en');
    expect(i.getFixedT('he')('x.hi')).toBe('שלום');
    expect(await loadLanguage(i, 'en')).toBe(true);
    expect(calls).toEqual({ he: 1, ar: 0 });
  });

  it('formats counts through Intl and picks the plural form', async () => {
    const i = await createI18n(NO_APP_STRINGS, 'en');
    expect(i.t('common.totalItems', { count: 1 })).toBe('1 item');
    expect(i.t('common.totalItems', { count: 12345 })).toBe('12,345 items');
  });

  it('merges app strings over shared ones without losing siblings', () => {
    expect(deepMerge({ a: { b: '1', c: '2' } }, { a: { c: '3' } })).toEqual({ a: { b: '1', c: '3' } });
  });

  it('translates error codes, with Retry-After and unknown codes', async () => {
    const i = await createI18n(NO_APP_STRINGS, 'en');
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

  it('puts a field validation error beside its field', async () => {
    const i = await createI18n(NO_APP_STRINGS, 'he');
    const t = i.t.bind(i);
    const e = new ApiError({ status: 422, code: 'validation_failed', message: 'x', details: { field: 'new_password', reason: 'too_common' } });
    expect(fieldError(t, e)).toEqual({ field: 'new_password', message: he.validation.too_common });
    expect(fieldError(t, new ApiError({ status: 401, code: 'unauthorized', message: '' }))).toBeNull();
  });
});
