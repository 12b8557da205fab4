/**
 * The operator's backup target for the tenants the service onboards: a tenant created through
 * `POST /tenants` gets `penguinmails-infra:backup` (secret config: the URL may carry the target's
 * password) pointing at PENGUINMAILS_BACKUP_REPOSITORY, so its servers back MailU's data up from
 * the first `up` (the backup step comes before MailU) and offboarding's final backup has a
 * repository to go to. Each server gets its own restic repository under it
 * (`<repository>/<tenant>/<server>`, components/mailu-backup.ts). Set before the onboarding's
 * commit: the stack config file `stack init` wrote (its salt, this setting) is what is committed.
 */
import { Stack } from "@pulumi/pulumi/automation";

export const BACKUP_KEY = "penguinmails-infra:backup";

/** Gives a new tenant's stack the operator's backup target, unless its config already names one. */
export async function giveBackupTarget(stack: Stack, repository: string | undefined): Promise<boolean> {
  if (!repository) return false;
  if ((await stack.getAllConfig())[BACKUP_KEY]) return false;
  await stack.setConfig(BACKUP_KEY, { value: JSON.stringify({ repository }), secret: true });
  return true;
}
