// The browser sign-in of both apps against the system `make up` runs, at the URLs it prints
// (https://ulm.ovu.localhost:30443/, https://aam.ovu.localhost:30443/): the real nginx on the
// real cluster, with the origin a browser really sends (port included). The other browser
// tests run against a local nginx on port 80, where an allow-list without the port still
// matched; this one found nothing to match (issue 17: "The server cannot be reached").
//
//   OVU_CLUSTER_KUBECONFIG=e2e/cluster/_run/kubeconfig npm run e2e:cluster   (from web/, the
//   system up; e2e/run-real runs it after the `real` tests when no test filter is given)
//
// The bootstrap admin signs in to both (the local overlay makes admin MFA optional). The
// certificate is the operator's own CA, which this browser does not trust: certificate errors
// are ignored, nothing else (CORS and CSP are enforced as for any page).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARTIFACTS, launch } from './lib.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KUBECONFIG = process.env.OVU_CLUSTER_KUBECONFIG ?? path.join(repo, 'e2e/cluster/_run/kubeconfig');
const KUBECTL = process.env.OVU_CLUSTER_KUBECTL ?? path.join(repo, 'e2e/cluster/bin/kubectl');
const NS = process.env.OVU_E2E_REAL_NAMESPACE ?? 'ovu';
const SYSTEM = process.env.OVU_E2E_REAL_SYSTEM ?? 'ovu';

function kubectl(...args) {
  return execFileSync(KUBECTL, ['--kubeconfig', KUBECONFIG, '-n', NS, ...args], { encoding: 'utf8' });
}
const secret = (key) =>
  Buffer.from(kubectl('get', 'secret', `${SYSTEM}-bootstrap-admin`, '-o', `jsonpath={.data.${key}}`), 'base64').toString();

let browser;
let urls;
let admin;

before(async () => {
  // The URLs the operator publishes (status.endpoints), which are the ones `make up` prints.
  urls = JSON.parse(kubectl('get', 'ovusystem', SYSTEM, '-o', 'jsonpath={.status.endpoints}'));
  admin = { email: secret('email'), password: secret('password') };
  browser = await launch();
  fs.mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
});

async function signIn(origin, shot) {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const failed = [];
  page.on('requestfailed', (r) => failed.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on('console', (m) => m.type() === 'error' && failed.push(`console: ${m.text()}`));
  await page.goto(`${origin}/`);
  await page.waitForURL(/\/signin/);
  await page.fill('input[name=login]', admin.email);
  await page.fill('input[name=password]', admin.password);
  await page.locator('main form button[type=submit]').first().click();
  try {
    await page.waitForURL((u) => !u.pathname.startsWith('/signin'), { timeout: 20_000 });
  } catch (e) {
    const alert = await page.locator('.alert-error').textContent().catch(() => '');
    await page.screenshot({ path: path.join(ARTIFACTS, `cluster-${shot}-failed.png`), fullPage: true });
    throw new Error(`${origin}: still on the sign-in page (${alert}); failed requests: ${failed.join('; ')}`, { cause: e });
  }
  return { ctx, page, failed };
}

describe('make up: both apps sign in in a browser at the printed URLs', () => {
  it('the URLs carry the public port', () => {
    assert.equal(urls.ulm, 'https://ulm.ovu.localhost:30443');
    assert.equal(urls.aam, 'https://aam.ovu.localhost:30443');
  });

  it('ULM: the admin signs in and sees their account', async () => {
    const { ctx, page } = await signIn(urls.ulm, 'ulm');
    await page.waitForURL(/\/account$/);
    await page.locator('[data-testid=profile-email]').waitFor();
    assert.equal(await page.locator('[data-testid=profile-email]').textContent(), admin.email);
    await page.screenshot({ path: path.join(ARTIFACTS, 'cluster-ulm-account.png'), fullPage: true });
    await ctx.close();
  });

  it('AAM: the admin signs in (through ULM, cross-origin) and sees the dashboard', async () => {
    const { ctx, page, failed } = await signIn(urls.aam, 'aam');
    await page.waitForURL(`${urls.aam}/`);
    await page.locator('.grid-cards .stat').first().waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'cluster-aam-dashboard.png'), fullPage: true });
    assert.deepEqual(failed.filter((f) => /CORS|ERR_FAILED/.test(f)), [], 'no request was blocked');
    await ctx.close();
  });
});
