/**
 * Every translation key the apps use exists in English, Hebrew and Arabic: i18next would
 * otherwise show the raw key to a person. Literal keys are checked exactly; keys built from
 * a template (`aam.apps.types.${t}`) must at least have their fixed prefix.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { deepMerge } from './index';
import sharedEn from './en';
import sharedHe from './he';
import sharedAr from './ar';
import ulmEn from '../../../ulm/src/locales/en';
import ulmHe from '../../../ulm/src/locales/he';
import ulmAr from '../../../ulm/src/locales/ar';
import aamEn from '../../../aam/src/locales/en';
import aamHe from '../../../aam/src/locales/he';
import aamAr from '../../../aam/src/locales/ar';

type Tree = { [k: string]: string | Tree };

function lookup(tree: Tree, key: string): unknown {
  return key.split('.').reduce<unknown>((o, p) => (o && typeof o === 'object' ? (o as Tree)[p] : undefined), tree);
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'locales' || e.name === 'generated' ? [] : sources(p);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

function usedKeys(files: string[]): { exact: Set<string>; prefixes: Set<string> } {
  const exact = new Set<string>();
  const prefixes = new Set<string>();
  for (const f of files) {
    const s = fs.readFileSync(f, 'utf8');
    for (const m of s.matchAll(/\bt\(\s*'([a-zA-Z0-9_.]+)'/g)) exact.add(m[1]!);
    for (const m of s.matchAll(/\bkey: '([a-z]+\.[a-zA-Z0-9_.]+)'/g)) exact.add(m[1]!);
    for (const m of s.matchAll(/\bt\(\s*`([a-zA-Z0-9_.]+)\.\$\{/g)) prefixes.add(m[1]!);
  }
  return { exact, prefixes };
}

const web = path.resolve(__dirname, '../../..');
const apps = {
  ulm: { dirs: ['ulm/src', 'shared/src'], langs: { en: ulmEn, he: ulmHe, ar: ulmAr } },
  aam: { dirs: ['aam/src', 'shared/src'], langs: { en: aamEn, he: aamHe, ar: aamAr } },
};
const shared = { en: sharedEn, he: sharedHe, ar: sharedAr };

describe('translation keys in use', () => {
  for (const [name, app] of Object.entries(apps)) {
    const { exact, prefixes } = usedKeys(app.dirs.flatMap((d) => sources(path.join(web, d))));
    it(`${name}: finds keys to check`, () => {
      expect(exact.size).toBeGreaterThan(40);
    });
    for (const lang of ['en', 'he', 'ar'] as const) {
      it(`${name}: every key exists in ${lang}`, () => {
        const tree = deepMerge(shared[lang] as unknown as Tree, app.langs[lang] as unknown as Tree);
        const missing = [...exact].filter((k) => typeof lookup(tree, k) !== 'string');
        const missingPrefix = [...prefixes].filter((k) => typeof lookup(tree, k) !== 'object');
        expect(missing).toEqual([]);
        expect(missingPrefix).toEqual([]);
      });
    }
  }
});
