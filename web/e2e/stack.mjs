// The browser tests' stack: the real ULM and AAM binaries on fresh databases of the shared
// PostgreSQL, a private Redis database each, and the real nginx with the configuration the
// operator's renderer (`ovu-operator render-nginx`) writes — the same pieces `make dev` uses.
// Every process started is recorded by PID in <run>/pids and stopped by that PID.
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

function readEnv() {
  const file = path.join(runRoot, 'env');
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
  if (!fs.existsSync(p)) throw new Error(`${p} is missing: build it first (cargo build -p ovu-ulm -p ovu-aam -p ovu-operator)`);
  return p;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function dbUrl(base, name) {
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

function psql(url, sql) {
  execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qc', sql], { stdio: ['ignore', 'ignore', 'inherit'] });
}

function redisDb(url, n) {
  const u = new URL(url);
  u.pathname = `/${n}`;
  return u.toString();
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
  const stamp = `${Date.now()}`;
  const ulmDb = `web_e2e_ulm_${stamp}`;
  const aamDb = `web_e2e_aam_${stamp}`;
  psql(env.DATABASE_URL, `CREATE DATABASE ${ulmDb}`);
  psql(env.DATABASE_URL, `CREATE DATABASE ${aamDb}`);
  fs.writeFileSync(path.join(RUN, 'databases'), `${ulmDb}\n${aamDb}\n`);
  // Private Redis databases, emptied so rate-limit counters of an earlier run do not carry over.
  const ulmRedis = redisDb(env.REDIS_URL, 9);
  const aamRedis = redisDb(env.REDIS_URL, 10);
  for (const r of [ulmRedis, aamRedis]) execFileSync('redis-cli', ['-u', r, '--no-auth-warning', 'FLUSHDB'], { stdio: 'ignore' });

  const key = path.join(RUN, 'signing-key.pem');
  fs.writeFileSync(key, execFileSync(bin('ovu-ulm'), ['gen-key']), { mode: 0o600 });
  const pass = path.join(RUN, 'admin-password');
  fs.writeFileSync(pass, ADMIN_PASSWORD, { mode: 0o600 });

  // ULM delivers over SMTP to the Mailpit of scripts/services.sh, shared with other test runs:
  // this run's sender address tells its mail apart.
  if (!env.SMTP_URL || !env.MAILPIT_API) throw new Error(`${path.join(runRoot, 'env')} has no SMTP_URL/MAILPIT_API: run scripts/services.sh start again`);
  const mailFrom = `ulm-e2e-${stamp}@tests.ovu.localhost`;
  const ulmPort = await freePort();
  const aamPort = await freePort();
  const cors = `${ULM_ORIGIN},${AAM_ORIGIN}`;
  start('ulm', bin('ovu-ulm'), ['serve'], {
    DATABASE_URL: dbUrl(env.DATABASE_URL, ulmDb),
    REDIS_URL: ulmRedis,
    ULM_LISTEN_ADDR: `127.0.0.1:${ulmPort}`,
    ULM_PUBLIC_URL: ULM_ORIGIN,
    ULM_SIGNING_KEY_FILE: key,
    ULM_BOOTSTRAP_ADMIN_EMAIL: ADMIN_EMAIL,
    ULM_BOOTSTRAP_ADMIN_PASSWORD_FILE: pass,
    ULM_ADMIN_MFA: adminMfa,
    ULM_ACCESS_TTL_SECS: String(ACCESS_TTL_SECS),
    // Four variants of each flow sign in from one address within minutes.
    ULM_RATE_LOGIN_PER_MIN: '1000',
    ULM_RATE_REGISTER_PER_HOUR: '1000',
    ULM_RATE_RESET_PER_HOUR: '1000',
    TRUSTED_PROXIES: '127.0.0.1',
    CORS_ORIGINS: cors,
    LOG_FORMAT: 'text',
    SMTP_URL: env.SMTP_URL,
    SMTP_FROM: `OVU <${mailFrom}>`,
  });
  await waitFor(`http://127.0.0.1:${ulmPort}/api/ready`, 'ULM');
  start('aam', bin('ovu-aam'), ['serve'], {
    DATABASE_URL: dbUrl(env.DATABASE_URL, aamDb),
    REDIS_URL: aamRedis,
    AAM_LISTEN_ADDR: `127.0.0.1:${aamPort}`,
    ULM_URL: `http://127.0.0.1:${ulmPort}`,
    AAM_ADMIN_MFA: adminMfa,
    TRUSTED_PROXIES: '127.0.0.1',
    CORS_ORIGINS: cors,
    LOG_FORMAT: 'text',
  });
  await waitFor(`http://127.0.0.1:${aamPort}/api/ready`, 'AAM');

  for (const app of ['ulm', 'aam']) {
    const dist = path.join(web, app, 'dist');
    if (!fs.existsSync(path.join(dist, 'index.html'))) throw new Error(`${dist} is missing: run npm run build first`);
    const link = path.join(RUN, 'html', app);
    fs.rmSync(link, { force: true, recursive: true });
    fs.symlinkSync(dist, link);
  }
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
    const until = Date.now() + 10_000;
    while (pids.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    fs.rmSync(pidFile);
  }
  const dbFile = path.join(RUN, 'databases');
  if (fs.existsSync(dbFile)) {
    const env = readEnv();
    for (const db of fs.readFileSync(dbFile, 'utf8').split('\n').filter(Boolean)) {
      try {
        psql(env.DATABASE_URL, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      } catch (e) {
        console.error(`stack: could not drop ${db}: ${e.message}`);
      }
    }
    fs.rmSync(dbFile);
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
