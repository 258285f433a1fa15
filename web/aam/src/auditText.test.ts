import { describe, expect, it } from 'vitest';
import { createI18n, loadLanguage } from '@ovu/shared';
import { locales } from './locales';
import { KNOWN_ACTIONS, actionText, detailKey, detailsOf, draftFromParams, paramsFor, targetOf, userIdsOf, valueText } from './auditText';

// Every language at once, fetched as the panel fetches them.
const i18n = await createI18n(locales, 'en');
for (const l of ['he', 'ar'] as const) if (!(await loadLanguage(i18n, l))) throw new Error(`${l} did not load`);
const t = i18n.getFixedT('en');
const U1 = '11111111-1111-4111-8111-111111111111';
const U2 = '22222222-2222-4222-8222-222222222222';
const base = { source: 'ulm', action: 'login_succeeded', resource_type: '', resource_id: '' };

describe('audit in words', () => {
  it('has words for every known action in every language, and none for an unknown code', () => {
    for (const lng of ['en', 'he', 'ar']) {
      const tl = i18n.getFixedT(lng);
      for (const a of KNOWN_ACTIONS) {
        const s = actionText(tl, a);
        expect(s, `${lng} ${a}`).toBeTruthy();
        expect(s, `${lng} ${a}`).not.toContain(a);
        if (lng === 'he') expect(s, a).toMatch(/[\u0590-\u05FF]/);
        if (lng === 'ar') expect(s, a).toMatch(/[\u0600-\u06FF]/);
      }
    }
    expect(actionText(t, 'user_deactivated')).toBe('Deactivated an account');
    expect(actionText(t, 'setting.update')).toBe('Changed a setting');
    expect(actionText(t, 'something_new')).toBeNull();
  });

  it('looks up actors and users acted upon, once each', () => {
    expect(
      userIdsOf([
        { ...base, actor_id: U1, resource_type: 'user', resource_id: U2 },
        { ...base, actor_id: U1, actor_name: null, resource_type: 'user', resource_id: U1 },
        { ...base, source: 'aam', actor_id: U2, actor_name: 'admin', resource_type: 'app', resource_id: U1 },
      ]),
    ).toEqual([U1, U2]);
  });

  it('names targets: users, applications by name, settings by key', () => {
    expect(targetOf({ ...base, resource_type: 'user', resource_id: U1 })).toEqual({ kind: 'user', id: U1 });
    expect(targetOf({ ...base, resource_type: 'app', resource_id: U1, new_value: { name: 'billing', display_name: 'Billing' } })).toEqual({ kind: 'app', id: U1, name: 'Billing' });
    expect(targetOf({ ...base, resource_type: 'app', resource_id: U1, old_value: { name: 'billing' } })).toEqual({ kind: 'app', id: U1, name: 'billing' });
    expect(targetOf({ ...base, resource_type: 'setting', resource_id: 'general/site_name' })).toEqual({ kind: 'setting', category: 'general', key: 'site_name' });
    expect(targetOf(base)).toBeNull();
  });

  it('shows details as key: value, changes as before → after, and nothing for {}', () => {
    expect(detailsOf({ ...base, details: {} })).toEqual([]);
    expect(detailsOf({ ...base, details: null })).toEqual([]);
    expect(detailsOf({ ...base, details: { reason: 'left', scheduled: true, fields: ['phone', 'display_name'], empty: '' } })).toEqual([
      { key: 'reason', value: 'left' },
      { key: 'scheduled', value: 'true' },
      { key: 'fields', value: 'phone, display_name' },
    ]);
    expect(
      detailsOf({ ...base, source: 'aam', resource_type: 'app', old_value: { id: 1, name: 'a', version: '1', updated_at: 'x' }, new_value: { id: 1, name: 'a', version: '2', updated_at: 'y' } }),
    ).toEqual([{ key: 'version', from: '1', value: '2' }]);
    expect(detailsOf({ ...base, source: 'aam', resource_type: 'setting', old_value: 'OVU', new_value: 'OVU e2e' })).toEqual([{ key: 'value', from: 'OVU', value: 'OVU e2e' }]);
    expect(valueText({ access_ttl_minutes: 15, refresh_ttl_days: 30 })).toBe('access_ttl_minutes: 15; refresh_ttl_days: 30');
    expect(valueText([])).toBe('—');
    expect(detailKey(t, 'reason')).toBe('Reason');
    expect(detailKey(t, 'brand_new_key')).toBe('brand_new_key');
    expect(detailKey(i18n.getFixedT('he'), 'reason')).toBe('סיבה');
  });

  it('keeps filters and the page in the address, dropping empty ones', () => {
    const d = draftFromParams(new URLSearchParams('action=user_deactivated&source=ulm&cursor=abc'));
    expect(d).toEqual({ actor: '', action: 'user_deactivated', resource: '', source: 'ulm', since: '', until: '' });
    expect(paramsFor(d).toString()).toBe('action=user_deactivated&source=ulm');
    expect(paramsFor({ ...d, actor: ' dana@example.com ' }, 'next1').toString()).toBe('actor=dana%40example.com&action=user_deactivated&source=ulm&cursor=next1');
  });
});
