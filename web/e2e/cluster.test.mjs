// The browser sign-in of both apps against the system `make up` runs, at the URLs it prints
// (https://ulm.ovu.localhost:30443/, https://aam.ovu.localhost:30443/): the real nginx on the
// real cluster, with the origin a browser really sends (port included). The other browser
// tests run against a local nginx on port 80, where an allow-list without the port still
// matched; this one found nothing to match (issue 17: "The server cannot be reached").
//
//   OVU_CLUSTER_KUBECONFIG=e2e/cluster/_run/kubeconfig npm run e2e:cluster   (from web/, the
//   system up; e2e/run-real runs it after the `real` tests when no test filter is given)
//
// The bootstrap admin signs in to both with the second factor `adminMfa: Required` (the
// sample's default, which `make up` keeps) asks of admins. If no test enrolled the admin yet,
// the AAM panel walks it through enrolment on this first sign-in, as it does a newcomer; the
// key is kept in the test-owned Secret `<system>-e2e-admin-mfa`, shared with the Rust `real`
// tests (e2e/tests/it/real/admin.rs), whose annotation `ovu.e2e/last-step` records each TOTP
// step used so no sign-in replays one (ULM refuses a step it accepted before). The
// certificate is the operator's own CA, which this browser does not trust: certificate errors
// are ignored, nothing else (CORS and CSP are enforced as for any page).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARTIFACTS, currentStep, launch, totp } from './lib.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KUBECONFIG = process.env.OVU_CLUSTER_KUBECONFIG ?? path.join(repo, 'e2e/cluster/_run/kubeconfig');
const KUBECTL = process.env.OVU_CLUSTER_KUBECTL ?? path.join(repo, 'e2e/cluster/bin/kubectl');
const NS = process.env.OVU_E2E_REAL_NAMESPACE ?? 'ovu';
const SYSTEM = process.env.OVU_E2E_REAL_SYSTEM ?? 'ovu';
// make up's HTTPS NodePort: 30443 on the real-node cluster, 31443 on kind (e2e/run-real sets it).
const PORT = process.env.OVU_E2E_REAL_HTTPS_PORT ?? '30443';

function kubectl(...args) {
  return execFileSync(KUBECTL, ['--kubeconfig', KUBECONFIG, '-n', NS, ...args], { encoding: 'utf8' });
}
const secret = (key) =>
  Buffer.from(kubectl('get', 'secret', `${SYSTEM}-bootstrap-admin`, '-o', `jsonpath={.data.${key}}`), 'base64').toString();

const MFA_SECRET = `${SYSTEM}-e2e-admin-mfa`;
const LAST_STEP = 'ovu.e2e/last-step';

/** The admin's TOTP key as a test stored it, or null when no test has enrolled the admin. */
function storedKey() {
  try {
    const b64 = kubectl('get', 'secret', MFA_SECRET, '-o', 'jsonpath={.data.totp-key}');
    return b64 ? Buffer.from(b64, 'base64').toString() : null;
  } catch {
    return null;
  }
}

/** A code for a step newer than any sign-in used (waiting for the clock if need be), recorded. */
async function freshCode(key) {
  const recorded = Number(
    kubectl('get', 'secret', MFA_SECRET, '-o', `jsonpath={.metadata.annotations.ovu\\.e2e/last-step}`) || 0,
  );
  for (;;) {
    const now = currentStep();
    const step = Math.max(now, recorded + 1);
    if (step <= now + 1) {
      kubectl('annotate', '--overwrite', 'secret', MFA_SECRET, `${LAST_STEP}=${step}`);
      return totp(key, step);
    }
    await new Promise((r) => setTimeout(r, 5_000));
  }
}

function storeKey(key) {
  const manifest = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: MFA_SECRET, namespace: NS, labels: { 'app.kubernetes.io/managed-by': 'ovu-e2e' } },
    data: { 'totp-key': Buffer.from(key).toString('base64') },
  };
  execFileSync(KUBECTL, ['--kubeconfig', KUBECONFIG, 'apply', '-f', '-'], { input: JSON.stringify(manifest) });
}

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
    // The second step: the code from the stored key, or enrolment in the panel (AAM) first.
    const code = page.locator('input[name=code]');
    await Promise.race([code.waitFor({ timeout: 20_000 }), page.waitForURL(/\/enrol/, { timeout: 20_000 })]);
    if (new URL(page.url()).pathname.startsWith('/enrol')) {
      assert.equal(storedKey(), null, 'the admin was enrolled before, yet the panel asks to enrol');
      await page.getByRole('button', { name: 'Set up two-step verification' }).click();
      const key = await page.locator('[data-testid=mfa-secret]').getAttribute('data-secret');
      storeKey(key);
      await code.fill(await freshCode(key));
      await page.getByRole('button', { name: 'Verify and turn on' }).click();
      await page.locator('[data-testid=recovery-codes] li').first().waitFor();
      await page.getByRole('button', { name: 'I have saved my codes, continue' }).click();
    } else {
      const key = storedKey();
      assert.ok(key, `the admin has MFA on but no test stored its key (Secret ${MFA_SECRET})`);
      await code.fill(await freshCode(key));
      await page.locator('main form button[type=submit]').first().click();
    }
    await page.waitForURL((u) => !u.pathname.startsWith('/signin') && !u.pathname.startsWith('/enrol'), { timeout: 20_000 });
  } catch (e) {
    const alert = await page.locator('.alert-error').textContent().catch(() => '');
    await page.screenshot({ path: path.join(ARTIFACTS, `cluster-${shot}-failed.png`), fullPage: true });
    throw new Error(`${origin}: still on the sign-in page (${alert}); failed requests: ${failed.join('; ')}`, { cause: e });
  }
  return { ctx, page, failed };
}

describe('make up: both apps sign in in a browser at the printed URLs', () => {
  it('the URLs carry the public port', () => {
    assert.equal(urls.ulm, `https://ulm.ovu.localhost:${PORT}`);
    assert.equal(urls.aam, `https://aam.ovu.localhost:${PORT}`);
  });

  it('AAM: the admin signs in (through ULM, cross-origin) and sees the dashboard', async () => {
    const { ctx, page, failed } = await signIn(urls.aam, 'aam');
    await page.waitForURL(`${urls.aam}/`);
    await page.locator('.grid-cards .stat').first().waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'cluster-aam-dashboard.png'), fullPage: true });
    assert.deepEqual(failed.filter((f) => /CORS|ERR_FAILED/.test(f)), [], 'no request was blocked');
    await ctx.close();
  });

  it('ULM: the admin signs in and sees their account', async () => {
    const { ctx, page } = await signIn(urls.ulm, 'ulm');
    await page.waitForURL(/\/account$/);
    await page.locator('[data-testid=profile-email]').waitFor();
    assert.equal(await page.locator('[data-testid=profile-email]').textContent(), admin.email);
    await page.screenshot({ path: path.join(ARTIFACTS, 'cluster-ulm-account.png'), fullPage: true });
    await ctx.close();
  });
});
