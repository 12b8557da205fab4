/** After the suite: the Vault transit stand-in test/global-setup.ts started, stopped. */
export default async function globalTeardown(): Promise<void> {
  await globalThis.__penguinmailsVault?.stop();
}
