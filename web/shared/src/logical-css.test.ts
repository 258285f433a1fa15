/**
 * One stylesheet serves right-to-left and left-to-right: only logical properties
 * (inline/block, start/end). A physical one (margin-left, text-align: right, …) would put
 * things on the wrong side in Hebrew or Arabic, so this test refuses it in CSS and in inline
 * styles.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';

const web = path.resolve(__dirname, '../..');
const PHYSICAL_CSS = /\b(?:margin|padding|border)-(?:left|right)\b|(?:^|[;{\s])(?:left|right)\s*:|text-align\s*:\s*(?:left|right)|float\s*:\s*(?:left|right)|clear\s*:\s*(?:left|right)/;
const PHYSICAL_JSX = /\b(?:margin|padding|border)(?:Left|Right)\b|textAlign:\s*'(?:left|right)'|\b(?:left|right):\s*['\d]/;

function files(dir: string, ext: RegExp): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return ['node_modules', 'dist', 'generated'].includes(e.name) ? [] : files(p, ext);
    return ext.test(e.name) ? [p] : [];
  });
}

describe('logical CSS only', () => {
  it('has no physical properties in stylesheets', () => {
    const css = files(web, /\.css$/);
    expect(css.length).toBeGreaterThan(0);
    const bad = css.flatMap((f) =>
      fs
        .readFileSync(f, 'utf8')
        .split('\n')
        .map((l, i) => [l, i] as const)
        .filter(([l]) => PHYSICAL_CSS.test(l))
        .map(([l, i]) => `${path.relative(web, f)}:${i + 1}: ${l.trim()}`),
    );
    expect(bad).toEqual([]);
  });

  it('has no physical properties in inline styles', () => {
    const tsx = ['ulm/src', 'aam/src', 'shared/src'].flatMap((d) => files(path.join(web, d), /\.tsx$/));
    const bad = tsx.flatMap((f) =>
      fs
        .readFileSync(f, 'utf8')
        .split('\n')
        .map((l, i) => [l, i] as const)
        .filter(([l]) => /style=\{\{/.test(l) && PHYSICAL_JSX.test(l))
        .map(([l, i]) => `${path.relative(web, f)}:${i + 1}: ${l.trim()}`),
    );
    expect(bad).toEqual([]);
  });

  it('would catch one', () => {
    expect(PHYSICAL_CSS.test('.x { margin-left: 1rem; }')).toBe(true);
    expect(PHYSICAL_CSS.test('.x { inset-inline-start: 0; text-align: start; }')).toBe(false);
    expect(PHYSICAL_JSX.test("style={{ marginRight: 4 }}")).toBe(true);
  });
});
