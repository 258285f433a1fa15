/**
 * Text that comes from the server in English — the operator's condition reasons and
 * messages, the seeded roles' descriptions — shown in the UI language when
 * it is text this build knows, and as it is (in an isolate, by the caller) when it is not.
 */
import type { TFunction } from 'i18next';

/** The descriptions `migrations/ulm/*_seed_rbac.sql` gives the built-in roles. */
export const SEEDED_ROLES: Record<string, string> = {
  super_admin: 'every permission',
  admin: 'user and role administration',
  developer: 'API keys and read access for integrations',
  support: 'read-only help desk access to users and audit',
  user: 'a signed-up person',
};

const keyOf = (name: string) => name.replace(/[^a-z0-9]/gi, '_');

/**
 * A role's description: translated while it is still the seeded text (an administrator who
 * rewrote it wrote it in their own words, which are shown as they are).
 */
export function roleDescription(t: TFunction, role: { name: string; description: string }): string {
  return SEEDED_ROLES[role.name] === role.description ? t(`aam.roles.seeded.${keyOf(role.name)}`) : role.description;
}

/** A condition's type (`BackupHealthy`) or reason (`LastBackupFailed`); unknown → as it is. */
export function conditionType(t: TFunction, type: string): string {
  return /^[A-Za-z]+$/.test(type) ? t(`aam.operator.types.${type}`, { defaultValue: type }) : type;
}

export function conditionReason(t: TFunction, reason: string): string {
  return /^[A-Za-z]+$/.test(reason) ? t(`aam.operator.reasons.${reason}`, { defaultValue: reason }) : reason;
}

/**
 * The operator's messages (operator/src/controller/pipeline.rs) as patterns: the parts that
 * are names, times or counts (`postgres 0/1`) are captured and kept as they are; the words
 * around them are translated. First match wins; no match → the message as it is. Only the
 * messages a running system shows day to day are here (the JS budget is 150 KB for three
 * languages); the rare ones (cert-manager, TLS Secrets, pause) are shown as they are.
 */
const MESSAGES: [string, RegExp][] = [
  ['allServing', /^all tiers are serving$/],
  ['podMonitorApplied', /^Prometheus scrapes ULM and AAM through the PodMonitor$/],
  ['podMonitorMissing', /^spec\.monitoring\.podMonitor is true but the cluster has no monitoring\.coreos\.com\/v1 PodMonitor API/],
  ['waitsDatabase', /^waits for the database tier$/],
  ['waitsBackend', /^waits for the backend tier$/],
  ['waitsRestore', /^waits for the restore of the databases$/],
  ['waitingDatabase', /^waiting for the database tier: (?<rest>.*)$/],
  ['waitingBackend', /^waiting for the backend tier \(migrations, readiness\): (?<rest>.*)$/],
  ['rollingOut', /^rolling out the (?<tier>database|backend|frontend) tier: (?<rest>.*)$/],
  ['migrationFailed', /^the rollout of the (?<tier>database|backend|frontend) tier stopped: a migration failed \(the old pods keep serving\): (?<rest>.*)$/],
  ['selfSigned', /^self-signed certificate valid until (?<time>\S+)$/],
  ['noBackupYet', /^schedule "(?<schedule>[^"]*)"; no backup has finished yet$/],
  ['backupVerified', /^backup (?<name>\S+) succeeded and a test restore of it held every table$/],
  ['backupUnverified', /^backup (?<name>\S+) succeeded \(not verified: spec\.database\.backup\.verify is off\)$/],
  ['backupFailed', /^backup (?<name>\S+) failed; see its pod logs$/],
];

export function operatorMessage(t: TFunction, message: string): string {
  const m = message.trim();
  for (const [key, re] of MESSAGES) {
    const hit = re.exec(m);
    if (!hit) continue;
    const groups: Record<string, string> = { ...hit.groups };
    // The tier's name is a word of the sentence: translated too.
    if (groups['tier']) groups['tier'] = t(`aam.operator.tiers.${groups['tier']}`);
    return t(`aam.operator.messages.${key}`, groups);
  }
  return message;
}
