// Helpers of the browser tests: Debian's Chromium through playwright-core (never a
// downloaded browser), axe-core, screenshots, TOTP codes, and Mailpit (the SMTP server ULM
// delivers to, scripts/services.sh) as the mailbox.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const web = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const ARTIFACTS = path.join(web, 'test-artifacts');

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A browser context in one language and colour scheme, with CSP violations collected. */
export async function context(browser, v) {
  const ctx = await browser.newContext({
    locale: { he: 'he-IL', ar: 'ar' }[v.lang] ?? 'en-US',
    colorScheme: v.theme,
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
  });
  ctx.cspViolations = [];
  ctx.on('page', (p) => watch(ctx, p));
  return ctx;
}

function watch(ctx, page) {
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) ctx.cspViolations.push(m.text());
  });
}

export async function newPage(ctx) {
  const p = await ctx.newPage();
  return p;
}

/**
 * What every screen must satisfy: the language and direction on <html>, the theme, and
 * no serious or critical axe-core violation. Then a full-page screenshot.
 */
export async function checkScreen(page, v, name, assert) {
  await page.waitForLoadState('networkidle').catch(() => undefined);
  await page.waitForFunction(() => !document.querySelector('.loading'), null, { timeout: 10_000 }).catch(() => undefined);
  const html = await page.evaluate(() => ({
    lang: document.documentElement.lang,
    dir: document.documentElement.dir,
    theme: document.documentElement.dataset.theme,
  }));
  assert.equal(html.lang, v.lang, `${name}: <html lang>`);
  assert.equal(html.dir, v.lang === 'en' ? 'ltr' : 'rtl', `${name}: <html dir>`);
  assert.equal(html.theme, v.theme, `${name}: theme`);
  // Evaluated as a script through the DevTools protocol, so the page's CSP (no inline
  // scripts, no eval) stays in force for the app itself.
  await page.evaluate(`${AXE_SOURCE};0`);
  const violations = await page.evaluate(async () => {
    const r = await globalThis.axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((x) => x.impact === 'serious' || x.impact === 'critical')
      .map((x) => `${x.id} (${x.impact}): ${x.help} — ${x.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  });
  const dir = path.join(ARTIFACTS, 'screenshots', `${v.lang}-${v.theme}`);
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
  assert.deepEqual(violations, [], `${name}: axe-core serious/critical violations`);
}

// ---- TOTP (RFC 6238: SHA-1, 6 digits, 30 s) ------------------------------------------------

function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of s.replace(/=+$/, '').toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`bad base32 character ${c}`);
    bits += i.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

export const currentStep = () => Math.floor(Date.now() / 1000 / 30);

export function totp(secret, step = currentStep()) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = crypto.createHmac('sha1', base32(secret)).update(msg).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1_000_000).padStart(6, '0');
}

// ---- ULM back channel (the test's mailbox and checks, not the UI under test) --------------

export async function adminToken(ulmBase, email, password) {
  const r = await fetch(`${ulmBase}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ login: email, password }),
  });
  if (!r.ok) throw new Error(`admin login: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()).access_token;
}

/**
 * The link to `pathPart` in the newest mail to `to` that this stack's ULM sent, read from
 * Mailpit's API like a person opening their mail (`mailbox` = stack.mailbox: the API's URL and
 * the run's sender address, since other runs share the Mailpit). `after`: only mail that
 * arrived after this time (ms), so a second reset link is not confused with the first.
 */
export async function mailedLink(mailbox, to, pathPart, { after = 0, timeoutMs = 15_000 } = {}) {
  const until = Date.now() + timeoutMs;
  const query = new URLSearchParams({ query: `from:${mailbox.from} to:${to}` });
  while (Date.now() < until) {
    const r = await fetch(`${mailbox.api}/api/v1/search?${query}`);
    if (!r.ok) throw new Error(`mailpit search: HTTP ${r.status} ${await r.text()}`);
    // Newest first; Mailpit's to: matches substrings, so compare the address exactly.
    for (const m of (await r.json()).messages ?? []) {
      if (!m.To?.some((a) => a.Address.toLowerCase() === to.toLowerCase())) continue;
      if (Date.parse(m.Created) < after) continue;
      const full = await (await fetch(`${mailbox.api}/api/v1/message/${m.ID}`)).json();
      const link = new RegExp(`https?://[^\\s"<>]*${pathPart}#token=[A-Za-z0-9_-]+`).exec(full.Text ?? '');
      if (link) return link[0];
    }
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`no ${pathPart} mail for ${to} in Mailpit (${mailbox.api})`);
}

export async function userByEmail(ulmBase, token, email) {
  const r = await fetch(`${ulmBase}/api/v1/users?q=${encodeURIComponent(email)}`, { headers: { Authorization: `Bearer ${token}` } });
  const list = await r.json();
  return list.find((u) => u.email === email);
}

/** Polls `probe` until it returns something other than null/false; fails after `ms`. */
export async function waitUntil(probe, ms, what) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== false && v !== undefined) return v;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}
