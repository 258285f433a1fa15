/**
 * API error → the sentence a person reads, in their language. Every stable code has a
 * translation under `errors.<code>`; a code this build does not know still gets a readable
 * message that names it, so support can look it up.
 */
import type { TFunction } from 'i18next';
import { ApiError, CLIENT_CODES } from './api/errors';

export function errorCode(err: unknown): string {
  if (err instanceof ApiError) return err.code;
  return CLIENT_CODES.badResponse;
}

export function errorText(t: TFunction, err: unknown): string {
  const code = errorCode(err);
  const seconds = err instanceof ApiError ? (err.retryAfter ?? 60) : 60;
  const key = `errors.${code}`;
  const known = t(key, { seconds, defaultValue: '' });
  if (known) {
    if (code === 'validation_failed' && err instanceof ApiError && !err.field) {
      const reason = err.details['reason'];
      if (typeof reason === 'string') {
        const r = t(`validation.${reason}`, { defaultValue: '' });
        if (r) return `${known} ${r}`;
      }
    }
    return known;
  }
  return t('errors.unknown', { code });
}

/**
 * For a validation error about one field, the message to show beside that field (the form
 * puts it under the input and ties it with `aria-describedby`).
 */
export function fieldError(t: TFunction, err: unknown): { field: string; message: string } | null {
  if (!(err instanceof ApiError) || err.code !== 'validation_failed' || !err.field) return null;
  const reason = err.details['reason'];
  const fromReason = typeof reason === 'string' ? t(`validation.${reason}`, { defaultValue: '' }) : '';
  return { field: err.field, message: fromReason || t('validation.invalid') };
}
