/**
 * Once before the suite, in Jest's own process (which stays up while the workers run the files):
 * the stacks the tests make are encrypted with a Vault transit stand-in's key on loopback
 * (scripts/dev/standins/vault-transit.ts), not the development passphrase. A passphrase stack costs
 * each `pulumi` process a key derivation (PBKDF2, 1,000,000 rounds: ~0.16–0.28 s of CPU here) and the
 * suite starts thousands of them; a `hashivault://` stack costs one HTTP call. The workers and every
 * process they start inherit the variables set here (scripts/lib/engine/secrets.ts reads them).
 *
 * PENGUINMAILS_TEST_SECRETS=passphrase runs the suite on the development passphrase instead, as the
 * demo and a developer's own runs use it (the path test/engine/secrets.test.ts checks either way).
 */
import * as crypto from "crypto";
import { VaultTransitSim } from "../scripts/dev/standins/vault-transit";

declare global {
  var __penguinmailsVault: VaultTransitSim | undefined;
}

export default async function globalSetup(): Promise<void> {
  // A key management URL of the operator's own shell is never the tests' (nor its Vault): replaced, or dropped for the passphrase.
  if (process.env.PENGUINMAILS_TEST_SECRETS === "passphrase") {
    delete process.env.PENGUINMAILS_SECRETS_PROVIDER;
    return;
  }
  const vault = await new VaultTransitSim({ token: crypto.randomBytes(16).toString("hex") }).start();
  globalThis.__penguinmailsVault = vault;
  Object.assign(process.env, vault.env(), { PENGUINMAILS_SECRETS_PROVIDER: VaultTransitSim.providerUrl("penguinmails-tests") });
}
