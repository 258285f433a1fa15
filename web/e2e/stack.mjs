// The browser tests' stack: the real ULM and AAM, started by the launcher `ovu-stack`
// (services/stack, the same one `make dev` uses) on fresh databases of the shared PostgreSQL
// that it drops when stopped, and the real nginx with the configuration the operator's
// renderer (`ovu-operator render-nginx`) writes. Every process started is recorded by PID in
// <run>/pids and stopped by that PID.
//
//   node e2e/stack.mjs up     start and print the URLs (stays up)
//   node e2e/stack.mjs down   stop what `up` started
//
// Sites: http://ulm.ovu.localhost and http://aam.ovu.localhost (Chromium resolves *.localhost
// to 127.0.0.1 by itself). nginx listens on E2E_HTTP_PORT (default 80, see README: the rendered
// CSP names ulm.<domain> without a port, so the AAM panel can reach ULM only on port 80).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const web = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const repo = path.dirname(web);
const runRoot = process.env.OVU_RUN_DIR ?? path.join(repo, '.run');
export const RUN = path.join(runRoot, 'web-e2e');
const BIN = process.env.OVU_BIN_DIR ?? path.join(repo, 'target', 'debug');
export const DOMAIN = 'ovu.localhost';
const HTTP_PORT = Number(process.env.E2E_HTTP_PORT ?? 80);
const portSuffix = HTTP_PORT === 80 ? '' : `:${HTTP_PORT}`;
export const ULM_ORIGIN = `http://ulm.${DOMAIN}${portSuffix}`;
export const AAM_ORIGIN = `http://aam.${DOMAIN}${portSuffix}`;
export const ADMIN_EMAIL = 'admin@example.com';
// Access tokens live this long (ULM_ACCESS_TTL_SECS) so the flows cross several expiries and
// the silent-refresh test does not wait the token policy's 5-minute floor.
export const ACCESS_TTL_SECS = Number(process.env.E2E_ACCESS_TTL_SECS ?? 20);
// Local, per-run test credential: a fresh database is bootstrapped with it and dropped after.
export const ADMIN_PASSWORD = 'e2e-admin-passphrase-for-ovu';

function readEnv(file = path.join(runRoot, 'env')) {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run scripts/services.sh start first`);
  const env = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^(?:export\s+)?([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2].replace(/^['"]|['"]$/g, '');
  }
  return env;
}

function bin(name) {
  const p = path.join(BIN, name);
  if (!fs.existsSync(p)) throw new Error(`${p} is missing: build it first (cargo build -p ovu-stack -p ovu-operator)`);
  return p;
}

function record(pid) {
  fs.appendFileSync(path.join(RUN, 'pids'), `${pid}\n`);
}

function start(name, cmd, args, env) {
  const log = fs.openSync(path.join(RUN, `${name}.log`), 'a');
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', log, log], detached: true });
  record(child.pid);
  child.unref();
  return child;
}

async function waitFor(url, what, ms = 60_000) {
  const until = Date.now() + ms;
  let last = '';
  while (Date.now() < until) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = String(e.cause?.code ?? e.message);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not become ready at ${url} (${last}); see ${RUN}/*.log`);
}

/** Waits until the launcher has written its settings (it is serving), or fails when it exits. */
async function stackReady(dir, pid, ms = 120_000) {
  const file = path.join(dir, 'stack.env');
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (fs.existsSync(file)) return readEnv(file);
    if (!alive(pid)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`ovu-stack did not become ready; see ${RUN}/stack.log`);
}

async function assertPortFree(port) {
  await new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', (e) =>
      reject(new Error(e.code === 'EADDRINUSE' ? `port ${port} is in use; nginx needs it (E2E_HTTP_PORT)` : `port ${port}: ${e.message}`)),
    );
    s.listen(port, () => s.close(resolve));
  });
}

/** `adminMfa`: the services' admin MFA policy, `optional` unless a test asks for `required`. */
export async function up({ adminMfa = 'optional' } = {}) {
  await down();
  await assertPortFree(HTTP_PORT);
  fs.mkdirSync(path.join(RUN, 'tmp'), { recursive: true });
  fs.mkdirSync(path.join(RUN, 'html'), { recursive: true });
  const env = readEnv();
  // ULM delivers over SMTP to the Mailpit of scripts/services.sh, shared with other test runs:
  // this run's sender address tells its mail apart.
  if (!env.SMTP_URL || !env.MAILPIT_API) throw new Error(`${path.join(runRoot, 'env')} has no SMTP_URL/MAILPIT_API: run scripts/services.sh start again`);
  const stamp = `${Date.now()}`;
  const pass = path.join(RUN, 'admin-password');
  fs.writeFileSync(pass, ADMIN_PASSWORD, { mode: 0o600 });
  const mailFrom = `ulm-e2e-${stamp}@tests.ovu.localhost`;
  const cors = `${ULM_ORIGIN},${AAM_ORIGIN}`;
  const ulmEnv = {
    ULM_PUBLIC_URL: ULM_ORIGIN,
    ULM_ADMIN_MFA: adminMfa,
    ULM_ACCESS_TTL_SECS: String(ACCESS_TTL_SECS),
    // Four variants of each flow sign in from one address at once.
    ULM_RATE_LOGIN_PER_MIN: '1000',
    ULM_RATE_REGISTER_PER_HOUR: '1000',
    ULM_RATE_RESET_PER_HOUR: '1000',
    TRUSTED_PROXIES: '127.0.0.1',
    CORS_ORIGINS: cors,
    SMTP_FROM: `OVU <${mailFrom}>`,
  };
  const aamEnv = { AAM_ADMIN_MFA: adminMfa, TRUSTED_PROXIES: '127.0.0.1', CORS_ORIGINS: cors };
  const dir = path.join(RUN, 'stack');
  fs.rmSync(path.join(dir, 'stack.env'), { force: true });
  const stack = start('stack', bin('ovu-stack'), [
    '--ulm', '--aam',
    '--db-prefix', `web_e2e_${stamp}`, '--drop-db',
    '--dir', dir,
    '--admin-email', ADMIN_EMAIL, '--admin-password-file', pass,
    ...Object.entries(ulmEnv).flatMap(([k, v]) => ['--ulm-env', `${k}=${v}`]),
    ...Object.entries(aamEnv).flatMap(([k, v]) => ['--aam-env', `${k}=${v}`]),
  ], { DATABASE_URL: env.DATABASE_URL, REDIS_URL: env.REDIS_URL, SMTP_URL: env.SMTP_URL, LOG_FORMAT: 'text' });
  const settings = await stackReady(dir, stack.pid);
  const ulmPort = Number(settings.STACK_ULM_PORT);
  const aamPort = Number(settings.STACK_AAM_PORT);

  for (const app of ['ulm', 'aam']) {
    const dist = path.join(web, app, 'dist');
    if (!fs.existsSync(path.join(dist, 'index.html'))) throw new Error(`${dist} is missing: run npm run build first`);
    const link = path.join(RUN, 'html', app);
    fs.rmSync(link, { force: true, recursive: true });
    fs.symlinkSync(dist, link);
  }
  // The flows run their four variants at once, every browser from 127.0.0.1: nginx's
  // per-address limit on the sign-in endpoints (1 r/s, burst 2 by default: one person's pace)
  // would turn their overlapping sign-ins into 429s, as ULM's own limits would (raised above).
  // So this stack sets the limit a company behind one NAT address would
  // (spec.frontend.rateLimits.signInPerSecond). The default limit and its 429 in the error
  // shape are the real tests' (e2e/tests/it/real.rs).
  const conf = execFileSync(bin('ovu-operator'), [
    'render-nginx',
    '--domain', DOMAIN,
    '--ulm-upstream', `127.0.0.1:${ulmPort}`,
    '--aam-upstream', `127.0.0.1:${aamPort}`,
    '--html-root', path.join(RUN, 'html'),
    '--temp-dir', path.join(RUN, 'tmp'),
    '--pid-file', path.join(RUN, 'nginx.pid'),
    '--access-log', path.join(RUN, 'access.log'),
    '--listen-http', String(HTTP_PORT),
    '--cors-origin', ULM_ORIGIN,
    '--cors-origin', AAM_ORIGIN,
    '--sign-in-per-second', '50',
  ]);
  const confFile = path.join(RUN, 'nginx.conf');
  fs.writeFileSync(confFile, conf);
  execFileSync('nginx', ['-t', '-q', '-p', RUN, '-e', path.join(RUN, 'nginx-error.log'), '-c', confFile], { stdio: 'inherit' });
  start('nginx', 'nginx', ['-p', RUN, '-e', path.join(RUN, 'nginx-error.log'), '-c', confFile], {});
  await waitFor(`http://127.0.0.1:${HTTP_PORT}/healthz`, 'nginx');
  const info = { ulm: ULM_ORIGIN, aam: AAM_ORIGIN, ulmPort, aamPort, httpPort: HTTP_PORT, admin: ADMIN_EMAIL, mailbox: { api: env.MAILPIT_API, from: mailFrom } };
  fs.writeFileSync(path.join(RUN, 'stack.json'), JSON.stringify(info, null, 2));
  return info;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function down() {
  const pidFile = path.join(RUN, 'pids');
  if (fs.existsSync(pidFile)) {
    const pids = fs.readFileSync(pidFile, 'utf8').split('\n').filter(Boolean).map(Number).reverse();
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGTERM');
    // The launcher drains, then drops its databases before it exits.
    const until = Date.now() + 20_000;
    while (pids.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    fs.rmSync(pidFile);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const cmd = process.argv[2];
  if (cmd === 'up') console.log(JSON.stringify(await up(), null, 2));
  else if (cmd === 'down') await down();
  else {
    console.error('usage: node e2e/stack.mjs up|down');
    process.exit(2);
  }
}
