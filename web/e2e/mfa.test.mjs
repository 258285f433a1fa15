// Browser test of the admin MFA policy (spec.security.adminMfa: Required): a stack of its own
// whose services require MFA of admins. The bootstrap admin, who has none, signs in to the AAM
// panel, is walked through enrolment (key from ULM, first code, recovery codes shown once) and
// reaches the dashboard; until then AAM's API refuses the password-only session.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { up, down, AAM_ORIGIN, ADMIN_EMAIL, ADMIN_PASSWORD } from './stack.mjs';
import { adminToken, checkScreen, context, launch, newPage, totp } from './lib.mjs';

let stack;
let browser;

before(async () => {
  stack = await up({ adminMfa: 'required' });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (!process.env.E2E_KEEP_STACK) await down();
});

it('the bootstrap admin enrols in MFA through the panel at first sign-in, then reaches the dashboard', async () => {
  const v = { lang: 'en', theme: 'light' };
  const aamApi = `http://127.0.0.1:${stack.aamPort}/api/v1/dashboard`;
  const passwordOnly = await adminToken(`http://127.0.0.1:${stack.ulmPort}`, ADMIN_EMAIL, ADMIN_PASSWORD);
  const refused = await fetch(aamApi, { headers: { Authorization: `Bearer ${passwordOnly}` } });
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).error.code, 'mfa_required');

  const ctx = await context(browser, v);
  const page = await newPage(ctx);
  await page.goto(`${AAM_ORIGIN}/`);
  await page.waitForURL(/\/signin/);
  await page.fill('input[name=login]', ADMIN_EMAIL);
  await page.fill('input[name=password]', ADMIN_PASSWORD);
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/enrol/);
  await checkScreen(page, v, 'aam-mfa-01-enrol', assert);
  await page.getByRole('button', { name: 'Set up two-step verification' }).click();
  const secret = await page.locator('[data-testid=mfa-secret]').getAttribute('data-secret');
  assert.ok(secret && secret.length >= 32, `secret: ${secret}`);
  assert.match(await page.locator('[data-testid=mfa-link]').getAttribute('href'), /^otpauth:\/\/totp\//);
  await page.fill('input[name=code]', totp(secret));
  await page.getByRole('button', { name: 'Verify and turn on' }).click();
  const codes = page.locator('[data-testid=recovery-codes] li');
  await codes.first().waitFor();
  assert.equal(await codes.count(), 10);
  await checkScreen(page, v, 'aam-mfa-02-codes', assert);
  await page.getByRole('button', { name: 'I have saved my codes, continue' }).click();
  await page.waitForURL(`${AAM_ORIGIN}/`);
  await page.locator('.grid-cards .stat').first().waitFor();
  assert.equal(await page.locator('h1').textContent(), 'Dashboard');
  assert.deepEqual(ctx.cspViolations ?? [], []);
  await ctx.close();
});
