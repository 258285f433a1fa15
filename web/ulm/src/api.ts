/**
 * ULM's API as the account app uses it. Every type comes from the OpenAPI document
 * (generated into @ovu/shared/generated/ulm); nothing here restates a schema by hand.
 */
import type { ApiClient } from '@ovu/shared';
import type { components } from '@ovu/shared/generated/ulm';

type S = components['schemas'];
export type User = S['User'];
export type TokenResponse = S['TokenResponse'];
export type MfaChallenge = S['MfaChallenge'];
export type SessionInfo = S['Session'];
export type ApiKey = S['ApiKey'];
export type CreatedApiKey = S['CreatedApiKey'];
export type MfaSetup = S['MfaSetup'];
export type RecoveryCodes = S['RecoveryCodes'];
export type RegisterRequest = S['RegisterRequest'];
export type UpdateMeRequest = S['UpdateMeRequest'];
export type CreateApiKeyRequest = S['CreateApiKeyRequest'];

export function isMfaChallenge(r: TokenResponse | MfaChallenge): r is MfaChallenge {
  return 'mfa_required' in r && r.mfa_required === true;
}

export const ulmApi = (c: ApiClient) => ({
  login: (login: string, password: string) =>
    c.post<TokenResponse | MfaChallenge>('/api/v1/auth/login', { login, password } satisfies S['LoginRequest'], { auth: false }),
  loginMfa: (mfa_token: string, code: string) =>
    c.post<TokenResponse>('/api/v1/auth/login/mfa', { mfa_token, code } satisfies S['MfaLoginRequest'], { auth: false }),
  logout: () => c.post<void>('/api/v1/auth/logout', { refresh_token: c.session.refreshToken } satisfies S['LogoutRequest']),
  register: (body: RegisterRequest) => c.post<S['Accepted']>('/api/v1/auth/register', body, { auth: false }),
  verifyEmail: (token: string) =>
    c.post<S['StatusMessage']>('/api/v1/auth/verify-email', { token } satisfies S['TokenRequest'], { auth: false }),
  forgot: (email: string) =>
    c.post<S['Accepted']>('/api/v1/auth/forgot-password', { email } satisfies S['ForgotPasswordRequest'], { auth: false }),
  reset: (token: string, new_password: string) =>
    c.post<unknown>('/api/v1/auth/reset-password', { token, new_password } satisfies S['ResetPasswordRequest'], { auth: false }),
  me: () => c.get<User>('/api/v1/users/me'),
  updateMe: (body: UpdateMeRequest) => c.patch<User>('/api/v1/users/me', body),
  changePassword: (current_password: string, new_password: string) =>
    c.post<void>('/api/v1/users/me/password', { current_password, new_password } satisfies S['ChangePasswordRequest']),
  sessions: () => c.get<SessionInfo[]>('/api/v1/users/me/sessions'),
  endSession: (id: string) => c.delete(`/api/v1/users/me/sessions/${encodeURIComponent(id)}`),
  mfaSetup: () => c.post<MfaSetup>('/api/v1/auth/mfa/setup'),
  mfaEnable: (code: string) => c.post<RecoveryCodes>('/api/v1/auth/mfa/enable', { code } satisfies S['CodeRequest']),
  mfaDisable: (password: string, code: string) =>
    c.post<void>('/api/v1/auth/mfa/disable', { password, code } satisfies S['MfaDisableRequest']),
  apiKeys: () => c.get<ApiKey[]>('/api/v1/api-keys'),
  createApiKey: (body: CreateApiKeyRequest) => c.post<CreatedApiKey>('/api/v1/api-keys', body),
  revokeApiKey: (id: string) => c.delete(`/api/v1/api-keys/${encodeURIComponent(id)}`),
});

export type UlmApi = ReturnType<typeof ulmApi>;
