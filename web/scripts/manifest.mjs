// Reads an app's Vite build manifest (<app>/build-manifest.json, see scripts/vite-common.ts):
// which chunks the first load needs and which each language adds. Used by the size budget
// (scripts/size.mjs) and the browser tests that count language fetches (e2e/languages.test.mjs).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

export function readManifest(app) {
  const file = path.join(WEB, app, 'build-manifest.json');
  if (!fs.existsSync(file)) throw new Error(`${app}/build-manifest.json is missing; run npm run build first`);
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** The language a lazily imported chunk holds: from its source (locales/he.ts) or its chunk name (lang-he). */
function languageOf(chunk) {
  const m = /(?:^|\/)(?:i18n|locales)\/([a-z]{2})\.ts$/.exec(chunk.src ?? '') ?? /^lang-([a-z]{2})$/.exec(chunk.name ?? '');
  return m ? m[1] : null;
}

/** The manifest keys `keys` pull in through static imports, themselves included. */
function closure(manifest, keys) {
  const seen = new Set();
  const visit = (k) => {
    if (seen.has(k)) return;
    const c = manifest[k];
    if (!c) throw new Error(`build manifest: ${k} is imported but not listed`);
    seen.add(k);
    for (const i of c.imports ?? []) visit(i);
  };
  keys.forEach(visit);
  return seen;
}

/**
 * `initial`: the entry chunks and what they import statically (what every first load
 * fetches); `languages`: per language fetched on demand, the chunks it adds to those. Values
 * are file paths relative to dist/ (`assets/…js`).
 */
export function chunkPlan(manifest) {
  const entries = Object.keys(manifest).filter((k) => manifest[k].isEntry);
  if (entries.length === 0) throw new Error('build manifest has no entry');
  const initialKeys = closure(manifest, entries);
  const languages = new Map();
  for (const k of initialKeys) {
    for (const d of manifest[k].dynamicImports ?? []) {
      const lang = languageOf(manifest[d]);
      if (!lang) continue;
      const files = languages.get(lang) ?? new Set();
      for (const c of closure(manifest, [d])) if (!initialKeys.has(c)) files.add(manifest[c].file);
      languages.set(lang, files);
    }
  }
  return { initial: new Set([...initialKeys].map((k) => manifest[k].file)), languages };
}
