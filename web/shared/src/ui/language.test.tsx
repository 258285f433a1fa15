/** The language menu and the note a failed language fetch leaves, rendered in the page chrome. */
import { describe, expect, it, vi } from 'vitest';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { I18nextProvider } from 'react-i18next';
import { createI18n, languageState } from '../i18n';
import { countedLocales as counted } from '../i18n/testing';
import he from '../i18n/he';
import { readPref, writePref } from '../prefs';
import { Shell } from './shell';

describe('language switch', () => {
  it('stays in the language it had when a language cannot be fetched, and says so; a retry fetches again', async () => {
    const { locales, calls, fail } = counted();
    const i = await createI18n(locales, 'he');
    writePref('lang', 'he');
    fail.ar = true;
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    render(
      <I18nextProvider i18n={i}>
        <Shell title="T">
          <p>body</p>
        </Shell>
      </I18nextProvider>,
    );
    await userEvent.selectOptions(screen.getByTestId('lang-switch'), 'ar');
    const alert = await screen.findByTestId('lang-error');
    expect(alert.textContent).toContain(he.common.languageLoadFailed.split('{{')[0]);
    expect(alert.textContent).toContain('العربية');
    expect(i.language).toBe('he');
    expect(document.documentElement.lang).toBe('he');
    expect(document.documentElement.dir).toBe('rtl');
    expect((screen.getByTestId('lang-switch') as HTMLSelectElement).value).toBe('he');
    expect(readPref('lang')).toBe('he');
    expect(languageState(i)).toEqual({ loading: null, failed: 'ar' });
    expect(quiet).toHaveBeenCalled();

    // Back online: the retry fetches again and switches.
    fail.ar = false;
    await userEvent.click(screen.getByRole('button', { name: he.common.retry }));
    await waitFor(() => expect(i.language).toBe('ar'));
    expect(calls.ar).toBe(2);
    expect(screen.queryByTestId('lang-error')).toBeNull();
    expect(document.documentElement.lang).toBe('ar');
    quiet.mockRestore();
  });

  it('renders in English with the error when the first language cannot be fetched, and keeps the choice', async () => {
    writePref('lang', 'he');
    const { locales, fail } = counted();
    fail.he = true;
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const i = await createI18n(locales);
    expect(i.language).toBe('en');
    expect(document.documentElement.lang).toBe('en');
    expect(document.documentElement.dir).toBe('ltr');
    expect(languageState(i).failed).toBe('he');
    expect(readPref('lang')).toBe('he'); // the next visit tries Hebrew again
    render(
      <I18nextProvider i18n={i}>
        <Shell title="T">
          <p>body</p>
        </Shell>
      </I18nextProvider>,
    );
    expect(screen.getByTestId('lang-error').textContent).toBe('Could not load עברית. Check your connection and try again.Try again');
    expect(screen.getByText('body')).toBeTruthy();
    quiet.mockRestore();
  });
});
