// Browser tests of how the languages reach the page (shared/src/i18n/index.ts): English is in
// the entry chunk, Hebrew and Arabic are chunks of their own that a page fetches only when it
// shows them; which files those are comes from each app's build manifest. A chunk that cannot
// be fetched (the connection dropped) leaves the page in the language it had, with a note and
// a second try. Against the real stack behind nginx (stack.mjs), so the rendered CSP applies.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { up, down, ULM_ORIGIN, AAM_ORIGIN } from './stack.mjs';
import { checkScreen, context, launch, newPage } from './lib.mjs';
import { chunkPlan, readManifest } from '../scripts/manifest.mjs';

let browser;

before(async () => {
  await up();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (!process.env.E2E_KEEP_STACK) await down();
});

const APPS = { ulm: ULM_ORIGIN, aam: AAM_ORIGIN };

/** The URL paths of each language's chunks for `app`, from its build manifest. */
function languageChunks(app) {
  const { languages } = chunkPlan(readManifest(app));
  for (const l of ['he', 'ar']) assert.ok(languages.get(l)?.size, `${app}: the build manifest has no ${l} chunk`);
  assert.equal(languages.has('en'), false, `${app}: English (the fallback) is meant to be in the entry chunk`);
  return Object.fromEntries([...languages].map(([l, files]) => [l, [...files].map((f) => `/${f}`)]));
}

/** A page that records every language chunk it requests (by language). */
async function watchedPage(ctx, chunks) {
  const page = await newPage(ctx);
  const fetched = { he: 0, ar: 0 };
  page.on('request', (r) => {
    const p = new URL(r.url()).pathname;
    for (const [l, files] of Object.entries(chunks)) if (files.includes(p)) fetched[l] += 1;
  });
  return { page, fetched };
}

const HEBREW = /^[\u0590-\u05FF ]+$/;
const htmlLang = (page) => page.evaluate(() => `${document.documentElement.lang}/${document.documentElement.dir}`);
const signInButton = (page) => page.locator('main form button[type=submit]').first();

for (const [app, origin] of Object.entries(APPS)) {
  describe(`${app}: languages on demand`, () => {
    it('English fetches no language chunk; switching fetches the chosen one once, then the page changes', async () => {
      const chunks = languageChunks(app);
      const v = { lang: 'en', theme: 'light' };
      const ctx = await context(browser, v);
      const { page, fetched } = await watchedPage(ctx, chunks);
      await page.goto(`${origin}/signin`);
      await signInButton(page).waitFor();
      await checkScreen(page, v, `${app}-lang-01-en`, assert);
      assert.deepEqual(fetched, { he: 0, ar: 0 }, 'an English first load fetches no other language');

      await page.selectOption('[data-testid=lang-switch]', 'he');
      await page.waitForFunction(() => document.documentElement.lang === 'he');
      assert.equal(await htmlLang(page), 'he/rtl');
      assert.match(await signInButton(page).textContent(), HEBREW);
      assert.deepEqual(fetched, { he: 1, ar: 0 }, 'switching to Hebrew fetches Hebrew only');

      // Back to English and to Hebrew again: both are already here.
      await page.selectOption('[data-testid=lang-switch]', 'en');
      await page.waitForFunction(() => document.documentElement.lang === 'en');
      assert.equal((await signInButton(page).textContent()).trim(), 'Sign in');
      await page.selectOption('[data-testid=lang-switch]', 'he');
      await page.waitForFunction(() => document.documentElement.lang === 'he');
      assert.deepEqual(fetched, { he: 1, ar: 0 });
      assert.deepEqual(ctx.cspViolations, []);
      await ctx.close();
    });

    it('a Hebrew browser\'s first load fetches Hebrew and no other language', async () => {
      const chunks = languageChunks(app);
      const v = { lang: 'he', theme: 'dark' };
      const ctx = await context(browser, v);
      const { page, fetched } = await watchedPage(ctx, chunks);
      await page.goto(`${origin}/signin`);
      await signInButton(page).waitFor();
      assert.match(await signInButton(page).textContent(), HEBREW);
      await checkScreen(page, v, `${app}-lang-02-he`, assert);
      assert.deepEqual(fetched, { he: 1, ar: 0 });
      assert.deepEqual(ctx.cspViolations, []);
      await ctx.close();
    });
  });
}

describe('a language that cannot be fetched', () => {
  it('leaves the page in the language it had, says so, and a second try fetches it once back online', async () => {
    const chunks = languageChunks('ulm');
    const v = { lang: 'en', theme: 'light' };
    const ctx = await context(browser, v);
    const { page, fetched } = await watchedPage(ctx, chunks);
    await page.goto(`${ULM_ORIGIN}/signin`);
    await signInButton(page).waitFor();
    const offline = (r) => r.abort('internetdisconnected');
    for (const f of chunks.ar) await page.route(`${ULM_ORIGIN}${f}`, offline);

    await page.selectOption('[data-testid=lang-switch]', 'ar');
    const note = page.locator('[data-testid=lang-error]');
    await note.waitFor();
    assert.match(await note.textContent(), /^Could not load العربية\. Check your connection and try again\./);
    assert.equal(await htmlLang(page), 'en/ltr');
    assert.equal(await page.locator('[data-testid=lang-switch]').inputValue(), 'en');
    assert.equal((await signInButton(page).textContent()).trim(), 'Sign in');
    // Still usable: the form takes input.
    await page.fill('input[name=login]', 'someone');
    assert.equal(await page.inputValue('input[name=login]'), 'someone');
    await checkScreen(page, v, 'ulm-lang-03-offline', assert);

    for (const f of chunks.ar) await page.unroute(`${ULM_ORIGIN}${f}`, offline);
    await note.getByRole('button', { name: 'Try again' }).click();
    await page.waitForFunction(() => document.documentElement.lang === 'ar');
    assert.equal(await htmlLang(page), 'ar/rtl');
    assert.equal(await note.count(), 0);
    assert.ok(fetched.ar >= 2, `the second try fetched Arabic again (${fetched.ar} requests)`);
    assert.equal(await page.inputValue('input[name=login]'), 'someone', 'the switch keeps what was typed');
    await ctx.close();
  });

  it('a first load whose language cannot be fetched shows the page in English with the note', async () => {
    const chunks = languageChunks('aam');
    const ctx = await context(browser, { lang: 'he', theme: 'light' });
    const page = await newPage(ctx);
    for (const f of chunks.he) await page.route(`${AAM_ORIGIN}${f}`, (r) => r.abort('internetdisconnected'));
    await page.goto(`${AAM_ORIGIN}/signin`);
    await signInButton(page).waitFor();
    assert.equal((await signInButton(page).textContent()).trim(), 'Sign in');
    assert.equal(await htmlLang(page), 'en/ltr');
    assert.match(await page.locator('[data-testid=lang-error]').textContent(), /^Could not load עברית\./);
    await checkScreen(page, { lang: 'en', theme: 'light' }, 'aam-lang-04-first-load-offline', assert);
    await ctx.close();
  });
});
