/** Light and dark themes: `data-theme` on `<html>` picks the CSS variables in styles.css. */
import { readPref, writePref } from './prefs';

export type ThemeChoice = 'light' | 'dark' | 'system';

export function resolveTheme(choice: ThemeChoice, prefersDark: boolean): 'light' | 'dark' {
  return choice === 'system' ? (prefersDark ? 'dark' : 'light') : choice;
}

export function storedTheme(): ThemeChoice {
  const v = readPref('theme');
  return v === 'light' || v === 'dark' || v === 'system' ? v : 'system';
}

function prefersDark(): boolean {
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches;
}

export function applyTheme(choice: ThemeChoice, root: HTMLElement = document.documentElement): 'light' | 'dark' {
  const t = resolveTheme(choice, prefersDark());
  root.dataset['theme'] = t;
  root.style.colorScheme = t;
  return t;
}

export function setTheme(choice: ThemeChoice): void {
  writePref('theme', choice);
  applyTheme(choice);
}
