import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { I18nextProvider } from 'react-i18next';
import { createI18n } from '../i18n';
import { NO_APP_STRINGS } from '../i18n/testing';
import { ApiError } from '../api/errors';
import { PasswordField, TextField, useFieldErrors } from './form';
import { ErrorNote } from './feedback';
import { Dialog } from './dialog';

const i18n = await createI18n(NO_APP_STRINGS, 'en');
const wrap = (ui: React.ReactNode) => render(<I18nextProvider i18n={i18n}>{ui}</I18nextProvider>);

describe('form parts', () => {
  it('labels inputs and ties the error to the field', () => {
    wrap(<TextField label="E-mail" name="email" error="Not valid." hint="Work address" required />);
    const input = screen.getByLabelText(/E-mail/);
    expect(input).toHaveProperty('required', true);
    expect(input.getAttribute('aria-invalid')).toBe('true');
    const ids = input.getAttribute('aria-describedby')!.split(' ');
    expect(ids.map((id) => document.getElementById(id)?.textContent)).toEqual(['Work address', 'Not valid.']);
  });

  it('shows and hides the password on request', async () => {
    wrap(<PasswordField label="Password" name="password" autoComplete="current-password" />);
    const input = screen.getByLabelText('Password');
    expect(input.getAttribute('type')).toBe('password');
    expect(input.getAttribute('autocomplete')).toBe('current-password');
    await userEvent.click(screen.getByRole('button', { name: 'Show password' }));
    expect(input.getAttribute('type')).toBe('text');
    expect(screen.getByRole('button', { name: 'Hide password' }).getAttribute('aria-pressed')).toBe('true');
  });

  it('puts a server validation error on the field it names', () => {
    const err = new ApiError({ status: 422, code: 'validation_failed', message: 'x', details: { field: 'password', reason: 'too_short' } });
    function Form() {
      const fe = useFieldErrors(err, { confirm: 'Mismatch' });
      return (
        <>
          <TextField label="Password" name="password" error={fe('password')} />
          <TextField label="Confirm" name="confirm" error={fe('confirm')} />
          <TextField label="Email" name="email" error={fe('email')} />
        </>
      );
    }
    wrap(<Form />);
    expect(screen.getByLabelText('Password').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByText('Too short.')).toBeTruthy();
    expect(screen.getByText('Mismatch')).toBeTruthy();
    expect(screen.getByLabelText('Email').getAttribute('aria-invalid')).toBeNull();
  });

  it('announces an API error as a translated alert, never the server text', () => {
    wrap(<ErrorNote error={new ApiError({ status: 403, code: 'account_disabled', message: 'server english' })} />);
    const alert = screen.getByRole('alert');
    expect(alert.textContent).toContain('This account is deactivated.');
    expect(alert.textContent).not.toContain('server english');
  });

  it('renders a dialog only while open, with a named close button', async () => {
    let closed = 0;
    const { rerender } = wrap(
      <Dialog open title="Revoke" onClose={() => closed++}>
        <p>Sure?</p>
      </Dialog>,
    );
    expect(screen.getByText('Sure?')).toBeTruthy();
    await userEvent.click(screen.getByRole('button', { name: 'Close', hidden: true }));
    expect(closed).toBe(1);
    rerender(
      <I18nextProvider i18n={i18n}>
        <Dialog open={false} title="Revoke" onClose={() => closed++}>
          <p>Sure?</p>
        </Dialog>
      </I18nextProvider>,
    );
    expect(screen.queryByText('Sure?')).toBeNull();
  });
});
