// The JavaScript budget: what a browser downloads to show an app in one language, gzip-
// compressed (level 9, as nginx's gzip_static would serve it; nginx's on-the-fly level 5 is a
// little larger), must total at most 150 KB (150,000 bytes) per app. That is the entry chunk
// and every chunk it imports statically, plus the heaviest language's chunks (with the
// fallback language's when it is a chunk of its own). The chunks are found from Vite's build
// manifest (<app>/build-manifest.json, see scripts/vite-common.ts), never from file names;
// all JS the app ships is reported too. `--write` records the figures in README.md between
// the size markers. Run after `npm run build`.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { WEB as web, chunkPlan, readManifest } from './manifest.mjs';

const BUDGET = 150_000;
const FALLBACK = 'en'; // shared/src/i18n/index.ts: fallbackLng
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
  // Everything in dist/ is served: the manifest (every source path) must have been moved out.
  if (fs.existsSync(path.join(dist, '.vite'))) {
    console.error(`size: ${app}/dist/.vite is there and would be served; scripts/vite-common.ts moves the manifest out`);
    process.exit(2);
  }
  const { initial, languages } = chunkPlan(readManifest(app));
  const gzOf = new Map(); // dist-relative file → gzip bytes
  let raw = 0;
  let all = 0;
  let css = 0;
  for (const f of files(dist)) {
    const buf = fs.readFileSync(f);
    const rel = path.relative(dist, f).split(path.sep).join('/');
    if (f.endsWith('.js')) {
      const gz = zlib.gzipSync(buf, { level: 9 }).length;
      gzOf.set(rel, gz);
      raw += buf.length;
      all += gz;
    } else if (f.endsWith('.css')) {
      css += zlib.gzipSync(buf, { level: 9 }).length;
    }
  }
  const sizeOf = (chunks) => {
    let n = 0;
    for (const file of chunks) {
      if (!gzOf.has(file)) throw new Error(`the build manifest of ${app} names ${file}, which is not in dist/ (stale manifest?)`);
      n += gzOf.get(file);
    }
    return n;
  };
  let heaviest = { lang: '-', gz: 0 };
  for (const [lang, chunks] of languages) {
    const withFallback = new Set([...chunks, ...(lang === FALLBACK ? [] : (languages.get(FALLBACK) ?? []))]);
    const gz = sizeOf(withFallback);
    if (gz > heaviest.gz) heaviest = { lang, gz };
  }
  const first = sizeOf(initial) + heaviest.gz;
  const ok = first <= BUDGET;
  over ||= !ok;
  const lazy = [...languages.keys()].sort().join(', ') || 'none';
  rows.push({ app, first, entry: first - heaviest.gz, heaviest, lazy, all, raw, css, ok });
}

const kb = (n) => (n / 1000).toFixed(1);
const table = [
  '| app | first load JS gzip (KB) | of it: entry (KB) | of it: heaviest language (KB) | languages fetched on demand | all JS gzip (KB) | all JS raw (KB) | budget (KB) | CSS gzip (KB) | within budget |',
  '|---|---:|---:|---:|---|---:|---:|---:|---:|---|',
  ...rows.map(
    (r) =>
      `| ${r.app} | ${kb(r.first)} | ${kb(r.entry)} | ${kb(r.heaviest.gz)} (${r.heaviest.lang}) | ${r.lazy} | ${kb(r.all)} | ${kb(r.raw)} | ${kb(BUDGET)} | ${kb(r.css)} | ${r.ok ? 'yes' : '**no**'} |`,
  ),
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
  console.error(`size: the first load is over the ${kb(BUDGET)} KB gzip budget`);
  process.exit(1);
}
