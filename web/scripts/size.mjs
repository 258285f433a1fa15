// The JavaScript budget: every .js file an app ships, gzip-compressed (level 9, as nginx's
// gzip_static would serve it; nginx's on-the-fly level 5 is a little larger), must total at
// most 150 KB (150,000 bytes) per app. `--write` records the figures in README.md between
// the size markers. Run after `npm run build`.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const web = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const BUDGET = 150_000;
const rows = [];
let over = false;

function files(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : [p];
  });
}

for (const app of ['ulm', 'aam']) {
  const dist = path.join(web, app, 'dist');
  if (!fs.existsSync(dist)) {
    console.error(`size: ${app}/dist is missing; run npm run build first`);
    process.exit(2);
  }
  let raw = 0;
  let gz = 0;
  let css = 0;
  for (const f of files(dist)) {
    const buf = fs.readFileSync(f);
    if (f.endsWith('.js')) {
      raw += buf.length;
      gz += zlib.gzipSync(buf, { level: 9 }).length;
    } else if (f.endsWith('.css')) {
      css += zlib.gzipSync(buf, { level: 9 }).length;
    }
  }
  const ok = gz <= BUDGET;
  over ||= !ok;
  rows.push({ app, raw, gz, css, ok });
}

const kb = (n) => (n / 1000).toFixed(1);
const table = [
  '| app | JS raw (KB) | JS gzip (KB) | budget (KB) | CSS gzip (KB) | within budget |',
  '|---|---:|---:|---:|---:|---|',
  ...rows.map((r) => `| ${r.app} | ${kb(r.raw)} | ${kb(r.gz)} | ${kb(BUDGET)} | ${kb(r.css)} | ${r.ok ? 'yes' : '**no**'} |`),
].join('\n');
console.log(table);

if (process.argv.includes('--write')) {
  const readme = path.join(web, 'README.md');
  const text = fs.readFileSync(readme, 'utf8');
  const start = '<!-- size:start -->';
  const end = '<!-- size:end -->';
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error('README.md has no size markers');
  const stamp = `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run build && npm run size -- --write\` (Node ${process.version}).`;
  fs.writeFileSync(readme, `${text.slice(0, i + start.length)}\n${stamp}\n\n${table}\n${text.slice(j)}`);
}

if (over) {
  console.error(`size: over the ${kb(BUDGET)} KB gzip budget`);
  process.exit(1);
}
