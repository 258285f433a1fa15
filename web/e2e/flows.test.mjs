// Browser tests of both apps against the real stack (see stack.mjs), in English and Hebrew,
// light and dark: register → verify via the mail (Mailpit) → sign in → enable MFA → sign out →
// sign in with TOTP; an admin finds that user in AAM, assigns a role and deactivates them,
// and the user's open session ends; a settings change shows in the audit feed and the CSV
// export downloads; a second person edits their phone, turns MFA off, keeps working while
// their short-lived access tokens expire and are refreshed silently, and is sent to sign-in
// when another device ends their session; the admin sees the phone, schedules a deactivation
// and cancels it. Every screen is checked with axe-core and saved as a screenshot under
// test-artifacts/screenshots/<lang>-<theme>/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { up, down, ULM_ORIGIN, AAM_ORIGIN, ADMIN_EMAIL, ADMIN_PASSWORD, ACCESS_TTL_SECS } from './stack.mjs';
import { adminToken, checkScreen, context, currentStep, launch, mailedLink, newPage, totp, userByEmail, waitUntil } from './lib.mjs';

const VARIANTS = [
  { lang: 'en', theme: 'light' },
  { lang: 'he', theme: 'dark' },
  { lang: 'en', theme: 'dark' },
  { lang: 'he', theme: 'light' },
];
// Arabic runs on request (E2E_VARIANTS=ar-light,ar-dark); the issue asks for en and he.
const EXTRA = [
  { lang: 'ar', theme: 'light' },
  { lang: 'ar', theme: 'dark' },
];
const only = process.env.E2E_VARIANTS?.split(',');
const variants = only ? [...VARIANTS, ...EXTRA].filter((v) => only.includes(`${v.lang}-${v.theme}`)) : VARIANTS;

let stack;
let browser;
let ulmBase; // ULM directly, for the test's own checks (the mailbox is Mailpit)
const PASSWORD = 'correct horse battery staple 42';
const NEW_PASSWORD = 'another long passphrase 2026';
// The stack's access tokens live ACCESS_TTL_SECS (stack.mjs), so the back channel signs in
// afresh right before each use instead of keeping a token across screens.
const admin = () => adminToken(ulmBase, ADMIN_EMAIL, ADMIN_PASSWORD);

before(async () => {
  stack = await up();
  ulmBase = `http://127.0.0.1:${stack.ulmPort}`;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (!process.env.E2E_KEEP_STACK) await down();
});

/** A translated message: not a raw i18n key, and in Hebrew letters for Hebrew. */
function assertTranslated(text, v, what) {
  assert.ok(text && text.trim().length > 0, `${what}: empty`);
  assert.doesNotMatch(text.trim(), /^[a-z]+\.[a-zA-Z_.]+$/, `${what}: shows a raw key`);
  if (v.lang === 'he') assert.match(text, /[\u0590-\u05FF]/, `${what}: not in Hebrew`);
  if (v.lang === 'ar') assert.match(text, /[\u0600-\u06FF]/, `${what}: not in Arabic`);
}

it('the committed OpenAPI snapshots match the running services (regenerate with scripts/fetch-openapi.sh)', async () => {
  for (const [name, port] of [
    ['ulm', stack.ulmPort],
    ['aam', stack.aamPort],
  ]) {
    const live = await (await fetch(`http://127.0.0.1:${port}/api/openapi.json`)).json();
    const committed = JSON.parse(fs.readFileSync(new URL(`../openapi/${name}.json`, import.meta.url), 'utf8'));
    assert.deepEqual(live, committed, `openapi/${name}.json is stale`);
  }
});

/** ULM's API directly (the back channel): status and parsed body. */
async function api(method, p, token, body) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`${ulmBase}${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

const submit = (page) => page.locator('main form button[type=submit]').first().click();

/** The sign-in card sits in the middle of the window (it sat off centre). */
async function assertCentred(page, selector, what) {
  await page.locator(selector).first().waitFor();
  const { left, right, width } = await page.evaluate((sel) => {
    const r = document.querySelector(sel).getBoundingClientRect();
    return { left: r.left, right: document.documentElement.clientWidth - r.right, width: r.width };
  }, selector);
  assert.ok(width > 0, `${what}: not shown`);
  assert.ok(Math.abs(left - right) <= 2, `${what}: ${left}px on the left, ${right}px on the right`);
}

// The variants run side by side (each in its own browser contexts, with its own people), the
// tests inside one variant in order: most of a variant's minute is waiting (for mail, for a
// token to expire, for pages), so four at once take little more than one (CI's budget:
// README "make test"). E2E_VARIANT_CONCURRENCY=1 runs them one after another.
const VARIANT_CONCURRENCY = Number(process.env.E2E_VARIANT_CONCURRENCY ?? variants.length);
describe('each language and theme', { concurrency: VARIANT_CONCURRENCY }, () => {
  for (const v of variants) {
    describe(`${v.lang} / ${v.theme}`, { concurrency: 1 }, () => {
      const id = `${v.lang}${v.theme}${Date.now().toString(36)}`;
      const email = `e2e-${id}@example.com`;
      const username = `e2e_${id}`;
      let userCtx;
      let userPage;
      let mfaStep = 0;

      it('a person registers, verifies, signs in, turns on MFA, signs out and signs in with TOTP', async () => {
        userCtx = await context(browser, v);
        const page = (userPage = await newPage(userCtx));

        await page.goto(`${ULM_ORIGIN}/forgot-password`);
        await checkScreen(page, v, 'ulm-01-forgot-password', assert);
        await page.goto(`${ULM_ORIGIN}/reset-password`);
        await checkScreen(page, v, 'ulm-02-reset-password', assert);
        await page.goto(`${ULM_ORIGIN}/no-such-page`);
        await checkScreen(page, v, 'ulm-03-not-found', assert);

        await page.goto(`${ULM_ORIGIN}/register`);
        await assertCentred(page, 'main .card.narrow', 'ULM register card');
        await checkScreen(page, v, 'ulm-04-register', assert);
        await page.fill('input[name=email]', email);
        await page.fill('input[name=username]', username);
        await page.fill('input[name=display_name]', { he: 'בודקת אוטומטית', ar: 'مختبر آلي' }[v.lang] ?? 'E2E Tester');
        await page.fill('input[name=password]', PASSWORD);
        await page.fill('input[name=confirm]', 'not the same');
        await submit(page);
        // A local check: the mismatch is shown beside the field and tied to it.
        const confirm = page.locator('input[name=confirm]');
        await assert.doesNotReject(confirm.and(page.locator('[aria-invalid=true]')).waitFor());
        const describedBy = await confirm.getAttribute('aria-describedby');
        assertTranslated(await page.locator(`[id="${describedBy.split(' ').pop()}"]`).textContent(), v, 'mismatch error');
        await page.fill('input[name=confirm]', PASSWORD);
        await submit(page);
        await page.locator('.alert-success').waitFor();
        await checkScreen(page, v, 'ulm-05-register-done', assert);

        const link = await mailedLink(stack.mailbox, email, '/verify-email');
        // The token rides in the fragment: never sent to nginx, never in a Referer.
        assert.ok(link.startsWith(`${ULM_ORIGIN}/verify-email#token=`), link);
        await page.goto(link);
        await page.locator('.alert-success').waitFor();
        assert.ok(!page.url().includes('token'), `the token left the address bar: ${page.url()}`);
        await checkScreen(page, v, 'ulm-06-verified', assert);

        // Forgot the password already: the reset link comes by mail too.
        await page.goto(`${ULM_ORIGIN}/forgot-password`);
        await page.fill('input[name=email]', email);
        await submit(page);
        await page.locator('.alert-success').waitFor();
        const reset = await mailedLink(stack.mailbox, email, '/reset-password');
        await page.goto(reset);
        await page.fill('input[name=new_password]', 'password');
        await page.fill('input[name=confirm]', 'password');
        await submit(page);
        // ULM refuses a common password; the reason is shown beside the field, translated.
        const np = page.locator('input[name=new_password][aria-invalid=true]');
        await np.waitFor();
        const npErr = (await np.getAttribute('aria-describedby')).split(' ').pop();
        assertTranslated(await page.locator(`[id="${npErr}"]`).textContent(), v, 'too_common');
        await checkScreen(page, v, 'ulm-06b-reset-refused', assert);
        await page.fill('input[name=new_password]', NEW_PASSWORD);
        await page.fill('input[name=confirm]', NEW_PASSWORD);
        await submit(page);
        await page.waitForURL(/\/signin/);
        await page.locator('.alert-success').waitFor();
        await checkScreen(page, v, 'ulm-06c-password-reset', assert);

        await page.goto(link.replace(/token=.*/, 'token=used-or-wrong'));
        await page.locator('.alert-error').waitFor();
        assertTranslated(await page.locator('.alert-error').textContent(), v, 'invalid_token');
        await page.goto(`${ULM_ORIGIN}/signin`);
        // Wrong password first: the API's code comes back as a translated message.
        await page.fill('input[name=login]', username);
        await page.fill('input[name=password]', 'wrong password here');
        await submit(page);
        const err = page.locator('.alert-error');
        await err.waitFor();
        assertTranslated(await err.textContent(), v, 'invalid_credentials');
        await checkScreen(page, v, 'ulm-07-signin-error', assert);
        await page.fill('input[name=password]', NEW_PASSWORD);
        await submit(page);
        await page.waitForURL(/\/account$/);
        await page.locator('[data-testid=profile-email]').waitFor();
        assert.equal(await page.locator('[data-testid=profile-email]').textContent(), email);

        // A person without aam:access cannot use the admin panel, and is told why.
        const panel = await newPage(userCtx);
        await panel.goto(`${AAM_ORIGIN}/`);
        await panel.waitForURL(/\/signin/);
        await panel.fill('input[name=login]', username);
        await panel.fill('input[name=password]', NEW_PASSWORD);
        await submit(panel);
        const denied = panel.locator('.alert-error');
        await denied.waitFor();
        assertTranslated(await denied.textContent(), v, 'no_access');
        await checkScreen(panel, v, 'aam-00-no-access', assert);
        await panel.close();
        await checkScreen(page, v, 'ulm-08-profile', assert);

        await page.click('a[href="/account/password"]');
        await page.locator('input[name=current_password]').waitFor();
        await checkScreen(page, v, 'ulm-09-password', assert);

        await page.click('a[href="/account/mfa"]');
        await page.locator('main .card button').first().click();
        const secretEl = page.locator('[data-testid=mfa-secret]');
        await secretEl.waitFor();
        await page.locator('[data-testid=mfa-qr]').waitFor();
        await checkScreen(page, v, 'ulm-10-mfa-setup', assert);
        const secret = await secretEl.getAttribute('data-secret');
        mfaStep = currentStep();
        await page.fill('input[name=code]', totp(secret, mfaStep));
        await submit(page);
        const codes = page.locator('[data-testid=recovery-codes] li');
        await codes.first().waitFor();
        assert.equal(await codes.count(), 10);
        await checkScreen(page, v, 'ulm-11-mfa-recovery-codes', assert);
        const [download] = await Promise.all([page.waitForEvent('download'), page.locator('main .actions button').nth(1).click()]);
        const codesFile = fs.readFileSync(await download.path(), 'utf8');
        assert.ok(codesFile.includes(await codes.first().textContent()), 'downloaded file holds the codes');
        await page.locator('main .actions button.primary').click();

        await page.click('a[href="/account/sessions"]');
        await page.locator('main table').waitFor();
        await checkScreen(page, v, 'ulm-12-sessions', assert);

        await page.click('a[href="/account/api-keys"]');
        await page.locator('main > p > button.primary').click();
        await page.locator('dialog[open] input[name=name]').waitFor();
        await checkScreen(page, v, 'ulm-13-api-key-create', assert);
        await page.fill('dialog[open] input[name=name]', 'e2e key');
        await page.locator('dialog[open] input[name=scopes]').first().check();
        await page.locator('dialog[open] button[type=submit]').click();
        const key = page.locator('[data-testid=new-api-key]');
        await key.waitFor();
        assert.match(await key.textContent(), /^ovuk_/);
        await checkScreen(page, v, 'ulm-14-api-keys', assert);

        await page.click('[data-testid=sign-out]');
        await page.waitForURL(/\/signin/);
        await checkScreen(page, v, 'ulm-15-signed-out', assert);

        await page.fill('input[name=login]', email);
        await page.fill('input[name=password]', NEW_PASSWORD);
        await submit(page);
        await page.locator('input[name=code]').waitFor();
        await checkScreen(page, v, 'ulm-16-signin-mfa', assert);
        // A used step cannot be replayed: take the step after the one that turned MFA on
        // (ULM accepts ±1 step), or the current one if time has moved past it.
        await page.fill('input[name=code]', totp(secret, Math.max(currentStep(), mfaStep + 1)));
        await submit(page);
        await page.waitForURL(/\/account$/);
        await page.locator('[data-testid=profile-email]').waitFor();
        assert.deepEqual(userCtx.cspViolations, []);
      });

      it('an admin finds the user, assigns a role, deactivates them, and the session ends; settings show in audit; CSV downloads', async () => {
        const ctx = await context(browser, v);
        const page = await newPage(ctx);
        await page.goto(`${AAM_ORIGIN}/`);
        await page.waitForURL(/\/signin/);
        await assertCentred(page, 'main .card.narrow', 'AAM sign-in card');
        await checkScreen(page, v, 'aam-01-signin', assert);
        // Keyboard only: the skip link comes first, then the switches, then the form.
        await page.keyboard.press('Tab');
        assert.equal(await page.evaluate(() => document.activeElement?.className), 'skip-link');
        for (const expected of ['lang-switch', 'theme-switch']) {
          await page.keyboard.press('Tab');
          assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), expected);
        }
        await page.keyboard.press('Tab');
        assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'login');
        await page.keyboard.type(ADMIN_EMAIL);
        await page.keyboard.press('Tab');
        assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'password');
        await page.keyboard.type(ADMIN_PASSWORD);
        await page.keyboard.press('Enter');
        await page.waitForURL(`${AAM_ORIGIN}/`);
        await page.locator('.grid-cards .stat').first().waitFor();
        await page.locator('svg.chart').waitFor();
        // The stat cards do not touch the chart's card (they did: the figure's margin was reset inline).
        const gap = await page.evaluate(() => document.querySelector('figure.card').getBoundingClientRect().top - document.querySelector('.grid-cards').getBoundingClientRect().bottom);
        assert.ok(gap >= 8, `stat cards to chart: ${gap}px`);
        // Services: each name stays beside its own badge and latency, in the page's direction
        // (in Hebrew a Latin name and a Latin latency swapped places).
        const services = await page.evaluate(() =>
          [...document.querySelectorAll('#dash-services ~ ul li')].map((li) => {
            const x = (sel) => li.querySelector(sel).getBoundingClientRect();
            return { c: li.dataset.component, name: x('bdi.name'), badge: x('.badge'), latency: x('bdi.latency') };
          }),
        );
        assert.ok(services.length >= 2, 'services listed');
        for (const s of services) {
          const order = v.lang === 'en' ? [s.name, s.badge, s.latency] : [s.latency, s.badge, s.name];
          assert.ok(order[0].right <= order[1].left + 1 && order[1].right <= order[2].left + 1, `${s.c}: name, status and latency out of order`);
        }
        await checkScreen(page, v, 'aam-02-dashboard', assert);

        await page.click('nav a[href="/users"]');
        await page.fill('input[name=q]', email);
        await page.locator('form[role=search] button[type=submit]').click();
        const row = page.locator('main table tbody tr');
        await page.waitForFunction((n) => document.querySelectorAll('main table tbody tr').length === n, 1);
        await checkScreen(page, v, 'aam-03-users', assert);
        await row.locator('a').first().click();
        await page.waitForURL(/\/users\/[0-9a-f-]{36}$/);
        await page.locator('[data-testid=deactivate]').waitFor();
        await checkScreen(page, v, 'aam-04-user', assert);

        const developer = page.locator('input[name=role][value=developer]');
        // The box follows ULM's answer (it is checked once ULM has the role), so click and wait.
        await developer.click();
        await page.locator('section:has(#user-roles) .alert-success').waitFor();
        await page.waitForFunction(() => document.querySelector('input[name=role][value=developer]')?.checked === true);
        assert.ok((await userByEmail(ulmBase, await admin(), email)).roles.includes('developer'), 'ULM has the role');

        await page.click('[data-testid=deactivate]');
        await page.fill('dialog[open] input[name=reason]', 'e2e: leaving the company');
        await checkScreen(page, v, 'aam-05-deactivate-dialog', assert);
        await page.locator('dialog[open] button[type=submit]').click();
        await page.locator('main h1 .badge.bad').waitFor();
        assert.equal((await userByEmail(ulmBase, await admin(), email)).status, 'deactivated');
        const history = page.locator('section:has(#user-history) li[data-action=user_deactivated]');
        await history.waitFor();
        // The status history says what happened in words, not ULM's event code.
        assertTranslated(await history.textContent(), v, 'status history');
        assert.doesNotMatch(await history.textContent(), /user_deactivated/);
        await checkScreen(page, v, 'aam-06-user-deactivated', assert);

        // The person's tab is still open: their next request finds the session ended and
        // the app returns them to sign-in with a message.
        await userPage.click('a[href="/account/sessions"]');
        await userPage.waitForURL(/\/signin/);
        const notice = userPage.locator('.alert-warning');
        await notice.waitFor();
        assertTranslated(await notice.textContent(), v, 'session-expired notice');
        await checkScreen(userPage, v, 'ulm-17-session-ended', assert);
        await userCtx.close();

        await page.click('nav a[href="/settings"]');
        const site = page.locator('[data-setting="general.site_name"]');
        await site.waitFor();
        await checkScreen(page, v, 'aam-07-settings', assert);
        const newName = `OVU e2e ${id}`;
        await site.locator('input').fill(newName);
        const general = page.locator('form[data-category=general]');
        await general.locator('button[type=submit]').click();
        await general.locator('.alert-success').waitFor();
        await site.locator('[data-testid=history]').click();
        await page.locator('dialog[open] .history li', { hasText: newName }).first().waitFor();
        await checkScreen(page, v, 'aam-08-setting-history', assert);
        await page.keyboard.press('Escape');

        await page.click('nav a[href="/audit"]');
        // Everything first: ULM's events in words, with names instead of ids, and no raw JSON.
        // This variant's row: the others deactivate their own people at the same time.
        const deactivated = page.locator('main table tbody tr[data-action=user_deactivated]', { has: page.locator('[data-col=target]', { hasText: email }) }).first();
        await deactivated.waitFor();
        assertTranslated(await deactivated.locator('[data-col=what]').textContent(), v, 'audit action');
        assert.ok((await deactivated.locator('[data-col=details]').textContent()).includes('e2e: leaving the company'), 'the reason is shown');
        const feedText = await page.locator('main table').textContent();
        assert.doesNotMatch(feedText, /\{\}|"reason"|user_deactivated|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}/, 'audit shows raw JSON, codes or ids');
        await checkScreen(page, v, 'aam-09a-audit-all', assert);
        await page.selectOption('main select[name=resource]', 'setting');
        await page.locator('main form button[type=submit]').click();
        await page.waitForURL(/[?&]resource=setting/);
        const auditRow = page.locator('main table tbody tr[data-action="setting.update"]', { hasText: id }).first();
        await auditRow.waitFor();
        assertTranslated(await auditRow.locator('[data-col=what]').textContent(), v, 'setting change');
        // The filter lives in the address: a reload (which means signing in again: tokens live
        // in memory only) comes back to the same events, and the form to the same filter.
        await page.reload();
        await page.waitForURL(/\/signin\?next=/);
        await page.fill('input[name=login]', ADMIN_EMAIL);
        await page.fill('input[name=password]', ADMIN_PASSWORD);
        await submit(page);
        await page.waitForURL(/\/audit\?resource=setting$/);
        await auditRow.waitFor();
        assert.equal(await page.locator('main select[name=resource]').inputValue(), 'setting');
        await checkScreen(page, v, 'aam-09-audit', assert);
        const [csv] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-csv]')]);
        const body = fs.readFileSync(await csv.path(), 'utf8');
        assert.match(csv.suggestedFilename(), /\.csv$/);
        assert.match(body.split('\n')[0], /action/i, 'CSV header');
        assert.ok(body.includes('site_name'), 'CSV holds the settings change');

        await page.click('nav a[href="/roles"]');
        await page.locator('main table').waitFor();
        if (v.lang !== 'en') assertTranslated(await page.locator('main table tbody tr', { hasText: 'support' }).locator('td').nth(1).textContent(), v, 'seeded role description');
        await checkScreen(page, v, 'aam-10-roles', assert);
        await page.locator('main table tbody tr', { hasText: 'developer' }).locator('button').first().click();
        await page.locator('dialog[open] fieldset').waitFor();
        await checkScreen(page, v, 'aam-10b-role-edit', assert);
        await page.keyboard.press('Escape');
        await page.click('nav a[href="/users"]');
        await page.locator('main > p > button.primary, main button.primary').first().click();
        await page.locator('dialog[open] form').waitFor();
        await checkScreen(page, v, 'aam-03b-user-create', assert);
        await page.keyboard.press('Escape');
        await page.click('nav a[href="/apps"]');
        await page.locator('main table tbody tr').first().waitFor();
        await checkScreen(page, v, 'aam-11-apps', assert);
        await page.locator('main button.primary').first().click();
        await page.locator('dialog[open] form').waitFor();
        await checkScreen(page, v, 'aam-11b-app-create', assert);
        await page.keyboard.press('Escape');
        await page.locator('main table tbody tr a').first().click();
        await page.locator('#deps').waitFor();
        await checkScreen(page, v, 'aam-12-app', assert);
        await page.click('nav a[href="/system"]');
        await page.locator('main table').first().waitFor();
        await checkScreen(page, v, 'aam-13-system', assert);
        // Inside the app (a full load would mean signing in again).
        await page.evaluate(() => {
          history.pushState(null, '', '/no-such-page');
          dispatchEvent(new PopStateEvent('popstate'));
        });
        await page.waitForFunction(() => !document.querySelector('main table'));
        await page.locator('main h1').waitFor();
        await checkScreen(page, v, 'aam-13b-not-found', assert);

        await page.click('[data-testid=sign-out]');
        await page.waitForURL(/\/signin/);
        assert.deepEqual(ctx.cspViolations, []);
        await ctx.close();
      });

      // A second person, made by the admin through ULM's API (the UI of that is flow 2's).
      const person = { username: `p_${id}`, email: `p-${id}@example.com` };
      const PHONE = '+972501234567';

      it('a person edits their phone, turns MFA off, stays signed in while tokens expire, and a revoked session returns them to sign-in', async () => {
        const created = await api('POST', '/api/v1/users', await admin(), { email: person.email, username: person.username, password: PASSWORD, preferred_language: v.lang });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        person.id = created.body.id;

        const ctx = await context(browser, v);
        const page = await newPage(ctx);
        // What the tab sends: the bearer tokens it uses and the answers to its refreshes.
        const bearers = [];
        const refreshes = [];
        page.on('request', (r) => {
          const a = r.headers()['authorization'];
          if (a?.startsWith('Bearer ') && r.url().startsWith(`${ULM_ORIGIN}/api/`)) bearers.push(a.slice(7));
        });
        page.on('response', (r) => {
          if (r.url() === `${ULM_ORIGIN}/api/v1/auth/refresh`) refreshes.push(r.status());
        });
        await page.goto(`${ULM_ORIGIN}/signin`);
        await page.fill('input[name=login]', person.username);
        await page.fill('input[name=password]', PASSWORD);
        await submit(page);
        await page.waitForURL(/\/account$/);

        // Phone: a telephone input, left to right even in Hebrew; a local number is refused
        // beside the field in the person's language, then the international one is saved in
        // ULM's normalised form.
        const phone = page.locator('main input[name=phone]');
        await phone.waitFor();
        assert.equal(await phone.getAttribute('type'), 'tel');
        assert.equal(await phone.getAttribute('autocomplete'), 'tel');
        assert.equal(await phone.getAttribute('dir'), 'ltr');
        await phone.fill('050-123-4567');
        await submit(page);
        await page.locator('main input[name=phone][aria-invalid=true]').waitFor();
        const phoneErr = (await phone.getAttribute('aria-describedby')).split(' ').pop();
        assertTranslated(await page.locator(`[id="${phoneErr}"]`).textContent(), v, 'invalid_phone');
        assert.equal((await userByEmail(ulmBase, await admin(), person.email)).phone, '', 'the refused number was not stored');
        await checkScreen(page, v, 'ulm-18-profile-phone-refused', assert);
        await phone.fill(' +972 50-123-4567 ');
        await submit(page);
        await page.locator('main .alert-success').waitFor();
        await page.waitForFunction((p) => document.querySelector('main input[name=phone]')?.value === p, PHONE);
        assert.equal(await phone.getAttribute('aria-invalid'), null);
        assert.equal((await userByEmail(ulmBase, await admin(), person.email)).phone, PHONE);
        await checkScreen(page, v, 'ulm-19-profile-phone-saved', assert);

        // MFA on, then off again with the password and a recovery code.
        await page.click('a[href="/account/mfa"]');
        await page.locator('main .card button').first().click();
        const secretEl = page.locator('[data-testid=mfa-secret]');
        await secretEl.waitFor();
        await page.fill('input[name=code]', totp(await secretEl.getAttribute('data-secret')));
        await submit(page);
        const codes = page.locator('[data-testid=recovery-codes] li');
        await codes.first().waitFor();
        const recovery = (await codes.first().textContent()).trim();
        await page.locator('main .actions button.primary').click();
        await page.locator('main input[name=password]').waitFor();
        assert.equal((await userByEmail(ulmBase, await admin(), person.email)).mfa_enabled, true);
        await checkScreen(page, v, 'ulm-20-mfa-disable', assert);
        // A wrong password is refused with a translated message and MFA stays on.
        await page.fill('main input[name=password]', 'not my password at all');
        await page.fill('main input[name=code]', recovery);
        await submit(page);
        await page.locator('main .alert-error').waitFor();
        assertTranslated(await page.locator('main .alert-error').textContent(), v, 'mfa disable refused');
        assert.equal((await userByEmail(ulmBase, await admin(), person.email)).mfa_enabled, true);
        await page.fill('main input[name=password]', PASSWORD);
        await submit(page);
        await page.locator('[data-testid=mfa-off]').waitFor();
        assert.equal((await userByEmail(ulmBase, await admin(), person.email)).mfa_enabled, false);
        await checkScreen(page, v, 'ulm-21-mfa-off', assert);

        // Silent refresh: wait until ULM refuses the newest access token this tab has used as
        // expired; the tab's next screen must still load, through a refresh, with no message.
        const stale = bearers.at(-1);
        const refused = await waitUntil(async () => {
          const r = await api('GET', '/api/v1/users/me', stale);
          return r.status === 401 ? r.body : null;
        }, (ACCESS_TTL_SECS + 30) * 1000, 'the access token to expire');
        assert.equal(refused.error.code, 'token_expired');
        const refreshedBefore = refreshes.length;
        await page.click('a[href="/account/sessions"]');
        await page.locator('main table tbody tr').first().waitFor();
        assert.match(page.url(), /\/account\/sessions$/);
        assert.ok(refreshes.length > refreshedBefore, 'the tab refreshed its token');
        assert.ok(refreshes.every((s) => s === 200), `refresh answers: ${refreshes}`);
        assert.notEqual(bearers.at(-1), stale, 'the sessions list was fetched with a new token');
        assert.equal(await page.locator('main .alert-warning, main .alert-error').count(), 0, 'nothing told the person');
        await checkScreen(page, v, 'ulm-22-after-silent-refresh', assert);

        // Another device of the same person ends this tab's session.
        const other = await api('POST', '/api/v1/auth/login', null, { login: person.email, password: PASSWORD });
        assert.equal(other.status, 200, JSON.stringify(other.body));
        const mine = await api('GET', '/api/v1/users/me/sessions', other.body.access_token);
        const tabs = mine.body.filter((x) => !x.current);
        assert.equal(tabs.length, 1, 'the browser tab holds the only other session');
        const ended = await api('DELETE', `/api/v1/users/me/sessions/${tabs[0].id}`, other.body.access_token);
        assert.ok(ended.status === 204 || ended.status === 200, `end session: HTTP ${ended.status}`);
        await page.click('a[href="/account/api-keys"]');
        await page.waitForURL(/\/signin/);
        const notice = page.locator('.alert-warning');
        await notice.waitFor();
        assertTranslated(await notice.textContent(), v, 'session-ended notice');
        await checkScreen(page, v, 'ulm-23-session-revoked', assert);
        assert.deepEqual(ctx.cspViolations, []);
        await ctx.close();
      });

      it('an admin sees the phone, schedules a deactivation and cancels it', async () => {
        assert.ok(person.id, 'the previous test made the person');
        const ctx = await context(browser, v);
        const page = await newPage(ctx);
        await page.goto(`${AAM_ORIGIN}/`);
        await page.waitForURL(/\/signin/);
        await page.fill('input[name=login]', ADMIN_EMAIL);
        await page.fill('input[name=password]', ADMIN_PASSWORD);
        await submit(page);
        await page.waitForURL(`${AAM_ORIGIN}/`);
        await page.click('nav a[href="/users"]');
        await page.fill('input[name=q]', person.email);
        await page.locator('form[role=search] button[type=submit]').click();
        await page.waitForFunction(() => document.querySelectorAll('main table tbody tr').length === 1);
        await page.locator('main table tbody tr a').first().click();
        await page.waitForURL(new RegExp(`/users/${person.id}$`));

        // The number the person saved, left to right inside RTL text, and in the edit form.
        const shown = page.locator('[data-testid=user-phone] bdi');
        await shown.waitFor();
        assert.equal(await shown.textContent(), PHONE);
        assert.equal(await shown.getAttribute('dir'), 'ltr');
        assert.equal(await page.locator('main input[name=phone]').inputValue(), PHONE);
        await checkScreen(page, v, 'aam-14-user-phone', assert);

        // Deactivation tomorrow at this minute, in the browser's time zone.
        const at = new Date(Date.now() + 24 * 3600 * 1000);
        at.setSeconds(0, 0);
        const pad = (n) => String(n).padStart(2, '0');
        const local = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
        await page.click('[data-testid=deactivate]');
        await page.fill('dialog[open] input[name=reason]', 'e2e: contract ends');
        await page.fill('dialog[open] input[name=at]', local);
        await checkScreen(page, v, 'aam-15-schedule-dialog', assert);
        await page.locator('dialog[open] button[type=submit]').click();
        const scheduled = page.locator('[data-testid=scheduled-deactivation]');
        await scheduled.waitFor();
        const text = await scheduled.textContent();
        assertTranslated(text, v, 'scheduled notice');
        assert.ok(text.includes('e2e: contract ends'), text);
        let u = await userByEmail(ulmBase, await admin(), person.email);
        assert.equal(u.status, 'active', 'still active until the date');
        assert.equal(Date.parse(u.scheduled_deactivation_at), at.getTime());
        assert.equal(await page.locator('main h1 .badge.bad').count(), 0);
        await checkScreen(page, v, 'aam-16-user-scheduled', assert);

        await page.click('[data-testid=reactivate]');
        await scheduled.waitFor({ state: 'detached' });
        await page.locator('main .alert-success').first().waitFor();
        u = await userByEmail(ulmBase, await admin(), person.email);
        assert.equal(u.status, 'active');
        assert.equal(u.scheduled_deactivation_at, null);
        await checkScreen(page, v, 'aam-17-schedule-cancelled', assert);
        await page.click('[data-testid=sign-out]');
        await page.waitForURL(/\/signin/);
        assert.deepEqual(ctx.cspViolations, []);
        await ctx.close();
      });
    });
  }
});
