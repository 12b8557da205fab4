/**
 * Which secrets provider a run of the engine uses. The development passphrase (in the repository)
 * is for the local development backend only (.pulumi-dev/backends/, what the demo and the tests
 * use); a stack on any other backend holds a real tenant's Hostwinds key and mailbox passwords, so
 * it gets the operator's own provider or nothing runs:
 *   - a passphrase file: PULUMI_CONFIG_PASSPHRASE_FILE (Pulumi's passphrase provider reads the
 *     file; pkg/secrets/passphrase readPassphrase). Pulumi reads PULUMI_CONFIG_PASSPHRASE *before*
 *     the file, so the two together are refused rather than letting the variable win silently;
 *   - a passphrase of the operator's in PULUMI_CONFIG_PASSPHRASE (e.g. a CI secret), never the
 *     development one;
 *   - a key management service: PENGUINMAILS_SECRETS_PROVIDER=awskms://…, azurekeyvault://…,
 *     gcpkms://… or hashivault://… (the URLs `pulumi stack init --secrets-provider` takes; Pulumi
 *     docs "Configuring secrets encryption").
 * Stacks the fleet and the service create get this provider (`--secrets-provider`). The tests set
 * PENGUINMAILS_SECRETS_PROVIDER to a Vault transit stand-in's key on the development backend
 * (test/global-setup.ts, scripts/dev/standins/vault-transit.ts): a passphrase costs every `pulumi`
 * process a key derivation.
 */
import * as fs from "fs";
import * as path from "path";

/** Only for local backends of dev runs, tests and the demo; real tenants use their own secrets provider. */
export const DEV_PASSPHRASE = "penguinmails-dev-only-passphrase";

const KMS_URL = /^(awskms|azurekeyvault|gcpkms|hashivault):\/\/\S+$/;

export class SecretsProviderError extends Error {
  override readonly name = "SecretsProviderError";
}

export interface SecretsChoice {
  /** Variables the engine gets (the development passphrase, or nothing added). */
  env: Record<string, string>;
  /** What `pulumi stack init --secrets-provider` gets for a new stack. */
  secretsProvider: string;
  /** For messages: which provider, never a secret. */
  describe: string;
}

/** Whether a backend URL is the local development backend (a folder under `<devDir>/backends/`). */
export function isDevBackend(backendUrl: string, devDir: string): boolean {
  if (!backendUrl.startsWith("file://")) return false;
  const dir = path.resolve(backendUrl.slice("file://".length));
  const root = path.resolve(devDir, "backends");
  return dir === root || dir.startsWith(root + path.sep);
}

const CHOICES = [
  "  - a passphrase file: PULUMI_CONFIG_PASSPHRASE_FILE=/path/to/file (and PULUMI_CONFIG_PASSPHRASE unset)",
  "  - your own passphrase in PULUMI_CONFIG_PASSPHRASE (not the development one)",
  "  - a key management service: PENGUINMAILS_SECRETS_PROVIDER=awskms://<key>, azurekeyvault://<vault>/keys/<key>,",
  "    gcpkms://projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k> or hashivault://<key>",
].join("\n");

/** The secrets provider for a run against `backendUrl`, from the environment the engine will see; throws naming the choices. */
export function secretsFor(backendUrl: string, env: Record<string, string | undefined>, devDir: string): SecretsChoice {
  const where = backendUrl.replace(/\/\/[^@/]*@/, "//***@"); // a postgres:// URL may carry a password
  const kms = env.PENGUINMAILS_SECRETS_PROVIDER?.trim();
  const passphrase = env.PULUMI_CONFIG_PASSPHRASE;
  const file = env.PULUMI_CONFIG_PASSPHRASE_FILE;
  const dev = isDevBackend(backendUrl, devDir);
  if (dev && !kms && passphrase === undefined && !file)
    return { env: { PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE }, secretsProvider: "passphrase", describe: "the development passphrase" };

  if (kms && kms !== "passphrase") {
    if (!KMS_URL.test(kms))
      throw new SecretsProviderError(
        `PENGUINMAILS_SECRETS_PROVIDER is "${kms}", not a key management URL or "passphrase"; the choices are:\n${CHOICES}`,
      );
    // On the development backend the development passphrase stays at hand: its stacks made before the
    // key management URL was set (the dev backends persist) still open.
    const devEnv: Record<string, string> = dev && passphrase === undefined && !file ? { PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE } : {};
    return { env: devEnv, secretsProvider: kms, describe: kms.replace(/\?.*$/, "") };
  }
  if (passphrase !== undefined && file)
    throw new SecretsProviderError(
      `both PULUMI_CONFIG_PASSPHRASE and PULUMI_CONFIG_PASSPHRASE_FILE are set: Pulumi reads PULUMI_CONFIG_PASSPHRASE first and ignores the file. Unset one of them.`,
    );
  if (file) {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      throw new SecretsProviderError(
        `PULUMI_CONFIG_PASSPHRASE_FILE names ${file}, which cannot be read: create it (one line, the passphrase) or fix the path.`,
      );
    }
    const ok = text.trim().length > 0;
    if (!ok) throw new SecretsProviderError(`PULUMI_CONFIG_PASSPHRASE_FILE names ${file}, which is empty: write the passphrase into it.`);
    return { env: {}, secretsProvider: "passphrase", describe: `the passphrase in ${file}` };
  }
  if (passphrase === DEV_PASSPHRASE && !dev)
    throw new SecretsProviderError(
      `the backend ${where} is not the local development backend, and the passphrase given is the development one (it is in the repository): a tenant's keys and passwords would be encrypted with it. Choose a secrets provider:\n${CHOICES}`,
    );
  if (passphrase !== undefined && (passphrase || dev))
    return { env: {}, secretsProvider: "passphrase", describe: "the passphrase in PULUMI_CONFIG_PASSPHRASE" };
  throw new SecretsProviderError(
    `the backend ${where} is not the local development backend and no secrets provider is configured (the development passphrase is only for .pulumi-dev/backends). Choose one:\n${CHOICES}`,
  );
}
