import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { createI18n, loadLanguage } from '@ovu/shared';
import { locales } from './locales';
import { SEEDED_ROLES, conditionReason, conditionType, operatorMessage, roleDescription } from './operatorText';

// Every language at once, fetched as the panel fetches them.
const i18n = await createI18n(locales, 'en');
for (const l of ['he', 'ar'] as const) if (!(await loadLanguage(i18n, l))) throw new Error(`${l} did not load`);
const T = { en: i18n.getFixedT('en'), he: i18n.getFixedT('he'), ar: i18n.getFixedT('ar') };
const script = { he: /[\u0590-\u05FF]/, ar: /[\u0600-\u06FF]/ };
const repo = path.resolve(__dirname, '../../..');

describe('server text in the UI language', () => {
  it('translates the seeded role descriptions (the migration is the source)', () => {
    const sql = fs.readFileSync(path.join(repo, 'migrations/ulm/20260101000002_seed_rbac.sql'), 'utf8');
    for (const [name, d] of Object.entries(SEEDED_ROLES)) expect(sql, name).toContain(`('${name}', '${d}', true)`);
    for (const lng of ['he', 'ar'] as const) {
      for (const [name, description] of Object.entries(SEEDED_ROLES)) expect(roleDescription(T[lng], { name, description }), `${lng} ${name}`).toMatch(script[lng]);
    }
    expect(roleDescription(T.he, { name: 'admin', description: 'user and role administration' })).toBe('ניהול משתמשים ותפקידים');
    // An administrator's own words, or a role this build does not know, stay as they are.
    expect(roleDescription(T.he, { name: 'admin', description: 'our admins' })).toBe('our admins');
    expect(roleDescription(T.he, { name: 'auditors', description: 'read the audit' })).toBe('read the audit');
  });

  it("translates every reason and fixed message the operator writes; unknown text stays as it is", () => {
    // Every module of the reconcile (the pipeline's steps, the verdict, the tiers) and the status helpers.
    const dir = path.join(repo, 'operator/src/controller');
    // tls.rs names what is wrong with a certificate a user brings (`problem("Reason", …)`).
    const src = [...fs.readdirSync(dir).filter((f) => f.endsWith('.rs')).sort().map((f) => path.join(dir, f)), path.join(repo, 'operator/src/tls.rs')]
      .map((f) => fs.readFileSync(f, 'utf8'))
      .join('\n');
    // Reasons: the string literal right after the condition's status in Cond::new/unknown, plus the computed ones.
    const reasons = new Set<string>(['Ready', 'RollingOut', 'Waiting', 'DatabaseRollingOut', 'BackendRollingOut', 'FrontendRollingOut', 'AllTiersReady', 'CertificateNotReady', 'BringingUp', 'RestoreFailed', 'MigrationFailed']);
    for (const m of src.matchAll(/Cond::(?:new|unknown)\(\s*[\w:]+,\s*(?:(?:true|false|\w+),\s*)?"([A-Za-z]+)"/g)) reasons.add(m[1]!);
    for (const m of src.matchAll(/crate::status::Cond::new\(\s*[\w:]+,\s*\w+,\s*"([A-Za-z]+)"/g)) reasons.add(m[1]!);
    for (const m of src.matchAll(/problem\(\s*"([A-Za-z]+)"/g)) reasons.add(m[1]!);
    expect(reasons).toContain('CertificateExpired');
    expect(reasons.size).toBeGreaterThan(20);
    for (const lng of ['he', 'ar'] as const) for (const r of reasons) expect(conditionReason(T[lng], r), `${lng} ${r}`).toMatch(script[lng]);
    for (const lng of ['he', 'ar'] as const) for (const c of ['Ready', 'DatabaseReady', 'BackendReady', 'FrontendReady', 'CertificateReady', 'BackupHealthy', 'MonitoringReady']) expect(conditionType(T[lng], c)).toMatch(script[lng]);

    const messages = [
      'all tiers are serving',
      'Prometheus scrapes ULM and AAM through the PodMonitor',
      'spec.monitoring.podMonitor is true but the cluster has no monitoring.coreos.com/v1 PodMonitor API; install prometheus-operator (its CRDs); the operator finds it within a minute',
      'waits for the database tier',
      'waits for the backend tier',
      'waits for the restore of the databases',
      'waiting for the database tier: postgres 0/1, redis 1/1',
      'waiting for the backend tier (migrations, readiness): ulm 0/2, aam 1/1',
      'rolling out the backend tier: ulm 2/2; rolling out ulm: 1 old pod',
      'the rollout of the backend tier stopped: a migration failed (the old pods keep serving): ulm 2/2; rolling out ulm: 1 of 2 pods updated',
      'self-signed certificate valid until 2027-01-01T00:00:00Z',
      'schedule "0 3 * * *"; no backup has finished yet',
      'backup ovu-backup-1 succeeded and a test restore of it held every table',
      'backup ovu-backup-1 succeeded (not verified: spec.database.backup.verify is off)',
      'backup ovu-backup-2 failed; see its pod logs',
    ];
    for (const lng of ['he', 'ar'] as const) for (const m of messages) expect(operatorMessage(T[lng], m), `${lng}: ${m}`).toMatch(script[lng]);
    expect(operatorMessage(T.he, 'waiting for the database tier: postgres 0/1, redis 1/1')).toBe('ממתין לשכבת מסד הנתונים: postgres 0/1, redis 1/1');
    expect(operatorMessage(T.he, 'backup ovu-backup-2 failed; see its pod logs')).toContain('ovu-backup-2');
    expect(operatorMessage(T.en, 'all tiers are serving')).toBe('All tiers are serving');
    expect(operatorMessage(T.en, 'the rollout of the backend tier stopped: a migration failed (the old pods keep serving): ulm 2/2')).toBe('The rollout of the backend tier stopped: a migration failed (the old pods keep serving): ulm 2/2');
    // Unknown: as it is.
    expect(operatorMessage(T.he, 'postgres: ImagePullBackOff pulling "postgres:99"')).toBe('postgres: ImagePullBackOff pulling "postgres:99"');
    expect(conditionReason(T.he, 'SomethingNew')).toBe('SomethingNew');
    expect(conditionType(T.he, 'NewCondition')).toBe('NewCondition');
    // A known but rare message without words in this build: as it is, never a raw key.
    expect(operatorMessage(T.he, 'using Secret ovu-tls')).toBe('using Secret ovu-tls');
  });
});
