/**
 * AAM's API as the admin panel uses it; types generated from AAM's OpenAPI document
 * (@ovu/shared/generated/aam). Sign-in goes to ULM (see ../ulm for the same calls).
 */
import type { ApiClient, Query } from '@ovu/shared';
import type { components } from '@ovu/shared/generated/aam';
import type { components as UlmComponents } from '@ovu/shared/generated/ulm';

type S = components['schemas'];
type U = UlmComponents['schemas'];
export type Dashboard = S['Dashboard'];
export type DailyPoint = S['DailyPoint'];
export type ComponentHealth = S['ComponentHealth'];
export type User = S['User'];
export type SessionInfo = S['Session'];
export type Role = S['Role'];
export type Permission = S['Permission'];
export type App = S['App'];
export type CreateApp = S['CreateApp'];
export type UpdateApp = S['UpdateApp'];
export type AppType = S['AppType'];
export type AppStatus = S['AppStatus'];
export type DependencyType = S['DependencyType'];
export type Criticality = S['Criticality'];
export type Dependency = S['Dependency'];
export type AppDependencies = S['AppDependencies'];
export type Setting = S['Setting'];
export type HistoryEntry = S['HistoryEntry'];
export type FeedItem = S['FeedItem'];
export type FeedPage = S['FeedPage'];
export type SystemHealth = S['SystemHealth'];
export type ClusterStatus = S['ClusterStatus'];
export type CreateUserRequest = S['CreateUserRequest'];
export type UpdateUserRequest = S['UpdateUserRequest'];
export type TokenResponse = U['TokenResponse'];
export type MfaChallenge = U['MfaChallenge'];
export type MfaSetup = U['MfaSetup'];
export type RecoveryCodes = U['RecoveryCodes'];

/** Every value of the generated enums, for select boxes (checked against the type). */
export const APP_TYPES = ['web', 'api', 'service', 'worker', 'library', 'external'] as const satisfies readonly AppType[];
export const APP_STATUSES = ['planned', 'development', 'active', 'maintenance', 'deprecated', 'retired'] as const satisfies readonly AppStatus[];
export const DEP_TYPES = ['runtime', 'auth', 'data', 'build', 'optional'] as const satisfies readonly DependencyType[];
export const CRITICALITIES = ['critical', 'high', 'medium', 'low'] as const satisfies readonly Criticality[];

const id = (v: string) => encodeURIComponent(v);

export interface UserQuery extends Query {
  q?: string;
  status?: 'active' | 'deactivated' | '';
  sort?: string;
  limit: number;
  offset: number;
}

export interface AuditFilters extends Query {
  actor?: string;
  action?: string;
  resource?: string;
  source?: 'ulm' | 'aam' | '';
  since?: string;
  until?: string;
}

export const aamApi = (c: ApiClient) => ({
  dashboard: () => c.get<Dashboard>('/api/v1/dashboard'),
  users: (q: UserQuery) => c.page<User[]>('/api/v1/users', q),
  user: (uid: string) => c.get<User>(`/api/v1/users/${id(uid)}`),
  createUser: (body: CreateUserRequest) => c.post<User>('/api/v1/users', body),
  updateUser: (uid: string, body: UpdateUserRequest) => c.patch<User>(`/api/v1/users/${id(uid)}`, body),
  deactivate: (uid: string, reason: string, at: string | null) =>
    c.post<User>(`/api/v1/users/${id(uid)}/deactivate`, (at ? { reason, at } : { reason }) satisfies S['DeactivateRequest']),
  reactivate: (uid: string) => c.post<User>(`/api/v1/users/${id(uid)}/reactivate`),
  addRole: (uid: string, roleId: string) => c.put<unknown>(`/api/v1/users/${id(uid)}/roles/${id(roleId)}`),
  removeRole: (uid: string, roleId: string) => c.delete(`/api/v1/users/${id(uid)}/roles/${id(roleId)}`),
  userSessions: (uid: string) => c.get<SessionInfo[]>(`/api/v1/users/${id(uid)}/sessions`),
  endUserSessions: (uid: string) => c.delete(`/api/v1/users/${id(uid)}/sessions`),
  sendReset: (uid: string) => c.post<S['ResetSent']>(`/api/v1/users/${id(uid)}/password-reset`),
  roles: () => c.get<Role[]>('/api/v1/roles'),
  createRole: (body: S['CreateRoleRequest']) => c.post<Role>('/api/v1/roles', body),
  updateRole: (rid: string, body: S['UpdateRoleRequest']) => c.patch<Role>(`/api/v1/roles/${id(rid)}`, body),
  deleteRole: (rid: string) => c.delete(`/api/v1/roles/${id(rid)}`),
  permissions: () => c.get<Permission[]>('/api/v1/permissions'),
  apps: (q: Query = {}) => c.page<App[]>('/api/v1/apps', q),
  app: (aid: string) => c.get<App>(`/api/v1/apps/${id(aid)}`),
  createApp: (body: CreateApp) => c.post<App>('/api/v1/apps', body),
  updateApp: (aid: string, body: UpdateApp) => c.patch<App>(`/api/v1/apps/${id(aid)}`, body),
  deleteApp: (aid: string) => c.delete(`/api/v1/apps/${id(aid)}`),
  dependencies: (aid: string) => c.get<AppDependencies>(`/api/v1/apps/${id(aid)}/dependencies`),
  addDependency: (aid: string, body: S['CreateDependency']) => c.post<Dependency>(`/api/v1/apps/${id(aid)}/dependencies`, body),
  removeDependency: (did: string) => c.delete(`/api/v1/dependencies/${id(did)}`),
  settings: () => c.get<Setting[]>('/api/v1/settings'),
  // The document types setting values as objects; they are any JSON the key's schema allows.
  putSetting: (cat: string, key: string, value: unknown) =>
    c.put<Setting>(`/api/v1/settings/${id(cat)}/${id(key)}`, { value } as unknown as S['PutSetting']),
  resetSetting: (cat: string, key: string) => c.post<Setting>(`/api/v1/settings/${id(cat)}/${id(key)}/reset`),
  settingHistory: (cat: string, key: string) => c.get<HistoryEntry[]>(`/api/v1/settings/${id(cat)}/${id(key)}/history`),
  audit: (f: AuditFilters, cursor?: string | null, limit = 50) => c.get<FeedPage>('/api/v1/audit', { ...f, cursor: cursor ?? undefined, limit }),
  auditCsv: (f: AuditFilters) => c.download('/api/v1/audit/export.csv', f),
  systemHealth: () => c.get<SystemHealth>('/api/v1/system/health'),
});

export type AamApi = ReturnType<typeof aamApi>;

export const ulmAuth = (c: ApiClient) => ({
  login: (login: string, password: string) =>
    c.post<TokenResponse | MfaChallenge>('/api/v1/auth/login', { login, password } satisfies U['LoginRequest'], { auth: false }),
  loginMfa: (mfa_token: string, code: string) =>
    c.post<TokenResponse>('/api/v1/auth/login/mfa', { mfa_token, code } satisfies U['MfaLoginRequest'], { auth: false }),
  logout: () => c.post<void>('/api/v1/auth/logout', { refresh_token: c.session.refreshToken } satisfies U['LogoutRequest']),
  /** MFA enrolment, open to an admin who must enrol before anything else. */
  mfaSetup: () => c.post<MfaSetup>('/api/v1/auth/mfa/setup'),
  mfaEnable: (code: string) => c.post<RecoveryCodes>('/api/v1/auth/mfa/enable', { code } satisfies U['CodeRequest']),
});
