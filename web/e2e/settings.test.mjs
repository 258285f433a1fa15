// Browser test of the AAM settings page against the real services behind nginx: a setting of
// each type (text, e-mail, enum, boolean, integer, sensitive URL) is edited through its group's
// form and saved with the group's one Save; a value AAM refuses stays in its box with the
// server's reason and code beside it while the rest of the group is saved; after a reload
// (which means signing in again: tokens live in memory) the new values are in the inputs, and
// each key's history drawer, at the page's inline end, shows the change in words.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { up, down, AAM_ORIGIN, ADMIN_EMAIL, ADMIN_PASSWORD } from './stack.mjs';
import { adminToken, checkScreen, context, launch, newPage } from './lib.mjs';

const VARIANTS = [
  { lang: 'en', theme: 'light' },
  { lang: 'he', theme: 'dark' },
  { lang: 'en', theme: 'dark' },
  { lang: 'he', theme: 'light' },
  { lang: 'ar', theme: 'light' },
];
const only = process.env.E2E_VARIANTS?.split(',');
// Without a choice: one variant per language direction; the screenshots of every variant come from E2E_VARIANTS.
const variants = only ? VARIANTS.filter((v) => only.includes(`${v.lang}-${v.theme}`)) : VARIANTS.slice(0, 2);

let browser;
let ulmBase;
let aamBase;

before(async () => {
  const stack = await up();
  ulmBase = `http://127.0.0.1:${stack.ulmPort}`;
  aamBase = `http://127.0.0.1:${stack.aamPort}`;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (!process.env.E2E_KEEP_STACK) await down();
});

async function signIn(page) {
  await page.waitForURL(/\/signin/);
  await page.fill('input[name=login]', ADMIN_EMAIL);
  await page.fill('input[name=password]', ADMIN_PASSWORD);
  await page.locator('main form button[type=submit]').first().click();
}

const field = (page, id) => page.locator(`[data-setting="${id}"]`);
const group = (page, category) => page.locator(`form[data-category=${category}]`);

for (const [n, v] of variants.entries()) {
  describe(`settings ${v.lang}-${v.theme}`, () => {
    it('edits a setting of each type through its group form, keeps a refused value with its reason, and finds the values and history after a reload', async () => {
      const ctx = await context(browser, v);
      const page = await newPage(ctx);
      await page.goto(`${AAM_ORIGIN}/settings`);
      await signIn(page);
      await page.waitForURL(/\/settings$/);
      await field(page, 'general.site_name').waitFor();
      await checkScreen(page, v, 'aam-settings-01-form', assert);
      // One Save per group, none per key; nothing to save yet.
      assert.equal(await page.locator('[data-setting] button[type=submit]').count(), 0);
      assert.equal(await group(page, 'general').locator('button[type=submit]').isDisabled(), true);

      // general: text, e-mail (first refused) and enum, in one Save.
      const name = `Acme ${v.lang}-${v.theme}`;
      const language = ['he', 'ar', 'en'][n % 3];
      await field(page, 'general.site_name').locator('input').fill(name);
      await field(page, 'general.support_email').locator('input').fill('not-an-address');
      await field(page, 'general.default_language').locator('select').selectOption(language);
      await group(page, 'general').locator('button[type=submit]').click();
      const refused = field(page, 'general.support_email').locator('.field-error');
      await refused.waitFor();
      assert.match(await refused.textContent(), /\(validation_failed\)$/, 'the reason carries the server code');
      assert.equal(await field(page, 'general.support_email').locator('input').getAttribute('aria-invalid'), 'true');
      assert.equal(await field(page, 'general.support_email').locator('input').inputValue(), 'not-an-address', 'the refused value stays');
      await checkScreen(page, v, 'aam-settings-02-refused', assert);
      // The accepted keys of the same Save went through and left the draft.
      const stored = await (await fetch(`${aamBase}/api/v1/settings/general/site_name`, { headers: { Authorization: `Bearer ${await adminToken(ulmBase, ADMIN_EMAIL, ADMIN_PASSWORD)}` } })).json();
      assert.equal(stored.value, name, 'AAM stored the accepted key of the same Save');
      const email = `help-${v.lang}-${v.theme}@example.com`;
      await field(page, 'general.support_email').locator('input').fill(email);
      await group(page, 'general').locator('button[type=submit]').click();
      await group(page, 'general').locator('.alert-success').waitFor();
      assert.equal(await field(page, 'general.support_email').locator('.field-error').count(), 0);

      // maintenance: boolean (a switch) and enum; audit and dashboard: integers; notifications: a secret URL.
      const banner = field(page, 'maintenance.banner_enabled').locator('input[role=switch]');
      const wasOn = await banner.isChecked();
      await banner.click();
      const level = ['warning', 'critical', 'info'][n % 3];
      await field(page, 'maintenance.banner_level').locator('select').selectOption(level);
      await group(page, 'maintenance').locator('button[type=submit]').click();
      await group(page, 'maintenance').locator('.alert-success').waitFor();
      const days = String(400 + n);
      await field(page, 'audit.retention_days').locator('input[type=number]').fill(days);
      await group(page, 'audit').locator('button[type=submit]').click();
      await group(page, 'audit').locator('.alert-success').waitFor();
      await field(page, 'notifications.alert_webhook_url').locator('input[type=url]').fill(`https://hooks.example/${v.lang}?token=s3cret`);
      await group(page, 'notifications').locator('button[type=submit]').click();
      await group(page, 'notifications').locator('.alert-success').waitFor();

      // A reload signs in again; the inputs hold what was saved, the secret stays hidden.
      await page.reload();
      await signIn(page);
      await page.waitForURL(/\/settings$/);
      await field(page, 'general.site_name').waitFor();
      assert.equal(await field(page, 'general.site_name').locator('input').inputValue(), name);
      assert.equal(await field(page, 'general.support_email').locator('input[type=email]').inputValue(), email);
      assert.equal(await field(page, 'general.default_language').locator('select').inputValue(), language);
      assert.equal(await field(page, 'maintenance.banner_enabled').locator('input[role=switch]').isChecked(), !wasOn);
      assert.equal(await field(page, 'maintenance.banner_level').locator('select').inputValue(), level);
      assert.equal(await field(page, 'audit.retention_days').locator('input').inputValue(), days);
      const secret = field(page, 'notifications.alert_webhook_url').locator('input');
      assert.equal(await secret.inputValue(), '');
      assert.equal(await secret.getAttribute('placeholder'), '••••••');
      assert.ok(!(await page.locator('main').textContent()).includes('s3cret'), 'the secret is not shown');
      await checkScreen(page, v, 'aam-settings-03-reloaded', assert);

      // History in a drawer at the inline end: the newest change, in words.
      await field(page, 'general.site_name').locator('[data-testid=history]').click();
      const drawer = page.locator('dialog[open].drawer');
      await drawer.locator('.history li .new', { hasText: name }).first().waitFor();
      const box = await drawer.boundingBox();
      const width = await page.evaluate(() => document.documentElement.clientWidth);
      if (v.lang === 'en') assert.ok(Math.abs(box.x + box.width - width) <= 1, `drawer at the right: ${JSON.stringify(box)}`);
      else assert.ok(box.x <= 1, `drawer at the left in RTL: ${JSON.stringify(box)}`);
      await checkScreen(page, v, 'aam-settings-04-history', assert);
      await page.keyboard.press('Escape');
      await drawer.waitFor({ state: 'detached' }).catch(() => undefined);
      await field(page, 'maintenance.banner_enabled').locator('[data-testid=history]').click();
      const on = { en: 'On', he: 'פעיל', ar: 'مفعّل' }[v.lang];
      const off = { en: 'Off', he: 'כבוי', ar: 'معطّل' }[v.lang];
      const li = page.locator('dialog[open] .history li').first();
      await li.waitFor();
      assert.equal(await li.locator('.new').textContent(), wasOn ? off : on);
      assert.equal(await li.locator('.old').textContent(), wasOn ? on : off);
      await page.keyboard.press('Escape');

      // Reset to default is per key: the retention goes back to 365 and says so.
      await field(page, 'audit.retention_days').locator('[data-testid=reset]').click();
      await page.waitForFunction(() => document.querySelector('[data-setting="audit.retention_days"] input')?.value === '365');
      assert.equal(await field(page, 'audit.retention_days').locator('[data-testid=reset]').isDisabled(), true);
      assert.deepEqual(ctx.cspViolations, []);
      await ctx.close();
    });
  });
}
