// Mailpit's web UI, as the newcomer of `make up` uses it (README: "Mail" URL): the binary
// scripts/mailpit.sh builds serves the UI's script bundle (its Go module ships only the UI's
// sources; the script builds and embeds them), and a person who registers in ULM finds the
// verification mail in that UI, opens it and clicks the link, which verifies the address.
// Mailpit here is the one of scripts/services.sh, the same binary images/build packs.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { up, down, ULM_ORIGIN } from './stack.mjs';
import { ARTIFACTS, checkScreen, context, launch, newPage } from './lib.mjs';

const V = { lang: 'en', theme: 'light' };
let stack;
let browser;

before(async () => {
  stack = await up();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (!process.env.E2E_KEEP_STACK) await down();
});

it("Mailpit's page references a script bundle and a stylesheet that it serves", async () => {
  const api = stack.mailbox.api;
  const r = await fetch(`${api}/`);
  assert.equal(r.status, 200);
  const html = await r.text();
  const scripts = [...html.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map((m) => m[1]);
  const styles = [...html.matchAll(/<link[^>]*rel=["']?stylesheet["']?[^>]*\shref="([^"]+)"/g)].map((m) => m[1]);
  assert.ok(scripts.length > 0, `no <script src> in Mailpit's page:\n${html}`);
  assert.ok(styles.length > 0, `no stylesheet in Mailpit's page:\n${html}`);
  for (const [refs, type] of [
    [scripts, /^(application|text)\/javascript/],
    [styles, /^text\/css/],
  ]) {
    for (const ref of refs) {
      const a = await fetch(new URL(ref, `${api}/`));
      const body = await a.text();
      assert.equal(a.status, 200, `${ref}: HTTP ${a.status}`);
      assert.match(a.headers.get('content-type') ?? '', type, `${ref}: content type`);
      // The Vue app, bundled: hundreds of kilobytes, not an empty or placeholder file.
      assert.ok(body.length > 50_000, `${ref}: only ${body.length} bytes`);
    }
  }
});

it('a newcomer registers, finds the verification mail in Mailpit, clicks its link and is verified', async () => {
  const ctx = await context(browser, V);
  const mailpitErrors = [];
  const stamp = Date.now();
  const email = `mailpit-ui-${stamp}@example.com`;
  try {
    const page = await newPage(ctx);
    await page.goto(`${ULM_ORIGIN}/register`);
    await page.fill('input[name=email]', email);
    await page.fill('input[name=username]', `mailpitui${stamp}`);
    await page.fill('input[name=display_name]', 'Mailpit Reader');
    await page.fill('input[name=password]', 'correct horse battery staple 42');
    await page.fill('input[name=confirm]', 'correct horse battery staple 42');
    await page.locator('main form button[type=submit]').first().click();
    await page.locator('.alert-success').waitFor();

    // The mailbox, as a person opens it: Mailpit's own UI (a Vue app: nothing of this shows
    // without its script bundle). Other runs share this Mailpit, so search for this run's mail.
    const mail = await newPage(ctx);
    mail.on('pageerror', (e) => mailpitErrors.push(e.message));
    await mail.goto(`${stack.mailbox.api}/`);
    const search = mail.getByPlaceholder('Search mailbox');
    await search.waitFor();
    await search.fill(`from:${stack.mailbox.from} to:${email}`);
    await search.press('Enter');
    // Delivery is asynchronous (ULM's outbox worker): search again until the mail is listed.
    const subject = mail.getByText('Confirm your e-mail address').first();
    const until = Date.now() + 15_000;
    while (!(await subject.isVisible())) {
      assert.ok(Date.now() < until, `the verification mail to ${email} is not listed in Mailpit's UI`);
      await mail.waitForTimeout(500);
      await search.press('Enter');
    }
    await subject.click();
    const link = mail.locator('a[href*="/verify-email#token="]').first();
    await link.waitFor();
    const href = await link.getAttribute('href');
    assert.ok(href.startsWith(`${ULM_ORIGIN}/verify-email#token=`), href);
    fs.mkdirSync(path.join(ARTIFACTS, 'screenshots', 'mailpit'), { recursive: true });
    await mail.screenshot({ path: path.join(ARTIFACTS, 'screenshots', 'mailpit', 'mailpit-01-verification-mail.png') });

    // Mailpit opens links in a new tab; follow it wherever it opens.
    const opened = (await link.getAttribute('target')) === '_blank' ? ctx.waitForEvent('page') : Promise.resolve(mail);
    await link.click();
    const verified = await opened;
    await verified.locator('.alert-success').waitFor();
    assert.ok(verified.url().startsWith(`${ULM_ORIGIN}/verify-email`), verified.url());
    assert.ok(!verified.url().includes('token'), `the token left the address bar: ${verified.url()}`);
    await checkScreen(verified, V, 'mailpit-02-verified', assert);
    assert.deepEqual(mailpitErrors, [], "Mailpit's UI threw");

    // The address is verified: the account signs in.
    const r = await fetch(`http://127.0.0.1:${stack.ulmPort}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ login: email, password: 'correct horse battery staple 42' }),
    });
    assert.equal(r.status, 200, await r.text());
  } finally {
    await ctx.close();
  }
});
