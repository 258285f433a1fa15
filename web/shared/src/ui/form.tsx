/**
 * Accessible form parts: every input has a `<label>`, an error tied with `aria-invalid` and
 * `aria-describedby`, the right `autocomplete`, and pasting allowed.
 */
import { useId, useState, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from 'react';
import { useTranslation } from 'react-i18next';
import { fieldError } from '../errorText';

interface FieldProps extends Omit<InputHTMLAttributes<HTMLInputElement>, 'id'> {
  label: string;
  hint?: string | undefined;
  error?: string | null | undefined;
  /** Wrap ids and e-mails so their direction stays left-to-right in RTL text. */
  ltr?: boolean;
}

function describedBy(...ids: (string | false | undefined | null)[]): string | undefined {
  const s = ids.filter(Boolean).join(' ');
  return s || undefined;
}

export function TextField({ label, hint, error, ltr, required, className, ...rest }: FieldProps) {
  const id = useId();
  const { t } = useTranslation();
  return (
    <div className={`field ${className ?? ''}`}>
      <label htmlFor={id}>
        {label}
        {required ? <span className="req" aria-hidden="true"> *</span> : null}
        {required ? <span className="visually-hidden"> ({t('common.required')})</span> : null}
      </label>
      <input
        id={id}
        required={required}
        dir={ltr ? 'ltr' : undefined}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(hint && `${id}-hint`, error && `${id}-err`)}
        {...rest}
      />
      {hint ? <p id={`${id}-hint`} className="hint">{hint}</p> : null}
      {error ? <p id={`${id}-err`} className="field-error">{error}</p> : null}
    </div>
  );
}

export function PasswordField(props: Omit<FieldProps, 'type'>) {
  const [shown, setShown] = useState(false);
  const { t } = useTranslation();
  return (
    <div className="password-field">
      <TextField {...props} type={shown ? 'text' : 'password'} ltr spellCheck={false} autoCapitalize="off" />
      <button type="button" className="link-button" aria-pressed={shown} onClick={() => setShown((s) => !s)}>
        {shown ? t('common.hidePassword') : t('common.showPassword')}
      </button>
    </div>
  );
}

interface SelectProps extends Omit<SelectHTMLAttributes<HTMLSelectElement>, 'id'> {
  label: string;
  error?: string | null | undefined;
  children: ReactNode;
}

export function SelectField({ label, error, children, className, ...rest }: SelectProps) {
  const id = useId();
  return (
    <div className={`field ${className ?? ''}`}>
      <label htmlFor={id}>{label}</label>
      <select id={id} aria-invalid={error ? true : undefined} aria-describedby={error ? `${id}-err` : undefined} {...rest}>
        {children}
      </select>
      {error ? <p id={`${id}-err`} className="field-error">{error}</p> : null}
    </div>
  );
}

interface AreaProps extends Omit<TextareaHTMLAttributes<HTMLTextAreaElement>, 'id'> {
  label: string;
  error?: string | null | undefined;
  hint?: string | undefined;
}

export function TextArea({ label, error, hint, className, ...rest }: AreaProps) {
  const id = useId();
  return (
    <div className={`field ${className ?? ''}`}>
      <label htmlFor={id}>{label}</label>
      <textarea
        id={id}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(hint && `${id}-hint`, error && `${id}-err`)}
        {...rest}
      />
      {hint ? <p id={`${id}-hint`} className="hint">{hint}</p> : null}
      {error ? <p id={`${id}-err`} className="field-error">{error}</p> : null}
    </div>
  );
}

export function CheckboxField({ label, ...rest }: Omit<InputHTMLAttributes<HTMLInputElement>, 'type' | 'id'> & { label: string }) {
  const id = useId();
  return (
    <div className="field checkbox">
      <input id={id} type="checkbox" {...rest} />
      <label htmlFor={id}>{label}</label>
    </div>
  );
}

/**
 * The message for one field from a failed request (server validation) or a local check,
 * so forms can write `error={fieldErr('password')}`.
 */
export function useFieldErrors(err: unknown, local: Record<string, string | undefined> = {}): (field: string) => string | undefined {
  const { t } = useTranslation();
  const fe = fieldError(t, err);
  return (field) => local[field] ?? (fe && fe.field === field ? fe.message : undefined);
}
