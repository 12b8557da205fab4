/**
 * A real tenant's secrets never under the development passphrase: on a backend that is not the
 * local development one, a run with the development passphrase (or no provider) stops before the
 * engine starts; with a passphrase file the stack is created with it, and its secrets cannot be
 * read with the development passphrase (the real CLI says so).
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { DEV_PASSPHRASE, engineEnv, localStack, programDir } from "../../scripts/lib/engine/pulumi-env";
import { SecretsProviderError } from "../../scripts/lib/engine/secrets";

jest.setTimeout(5 * 60_000);

describe("secrets provider on a real backend", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pm-secrets-backend-"));
  const backend = `file://${path.join(tmp, "state")}`;
  const passphraseFile = path.join(tmp, "passphrase");
  const dir = programDir("secrets", "test/fixtures/smoke");
  const stackName = `secrets-${process.pid}`;
  // The suite's own key management URL (test/global-setup.ts) would be taken on any backend: this file is about a passphrase.
  const suiteProvider = process.env.PENGUINMAILS_SECRETS_PROVIDER;
  beforeAll(() => {
    delete process.env.PENGUINMAILS_SECRETS_PROVIDER;
    fs.mkdirSync(path.join(tmp, "state"));
    fs.writeFileSync(passphraseFile, "an operator's own passphrase\n", { mode: 0o600 });
  });
  afterAll(() => {
    if (suiteProvider !== undefined) process.env.PENGUINMAILS_SECRETS_PROVIDER = suiteProvider;
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("refused with the development passphrase or none; accepted with a passphrase file, which the stack's secrets are under", async () => {
    const refused: Record<string, string>[] = [
      { PULUMI_BACKEND_URL: backend, PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE },
      { PULUMI_BACKEND_URL: backend },
    ];
    for (const extra of refused) {
      const saved = process.env.PULUMI_CONFIG_PASSPHRASE;
      delete process.env.PULUMI_CONFIG_PASSPHRASE;
      try {
        await expect(localStack(stackName, dir, { extra })).rejects.toThrow(SecretsProviderError);
      } finally {
        if (saved !== undefined) process.env.PULUMI_CONFIG_PASSPHRASE = saved;
      }
    }
    // Nothing reached the backend.
    expect(fs.readdirSync(path.join(tmp, "state"))).toEqual([]);

    const extra = { PULUMI_BACKEND_URL: backend, PULUMI_CONFIG_PASSPHRASE_FILE: passphraseFile };
    const stack = await localStack(stackName, dir, { extra });
    try {
      expect(stack.workspace.envVars.PULUMI_CONFIG_PASSPHRASE).toBeUndefined();
      await stack.setConfig("who", { value: "a tenant's secret", secret: true });
      expect((await stack.getConfig("who")).value).toBe("a tenant's secret");
      const settings = fs.readFileSync(path.join(dir, `Pulumi.${stackName}.yaml`), "utf8");
      expect(settings).toMatch(/^encryptionsalt: /m);
      expect(settings).not.toContain("a tenant's secret");

      // The real CLI, with the development passphrase: the secret cannot be decrypted.
      const env = { ...process.env, ...engineEnv({ backend: "secrets-unused" }), PULUMI_BACKEND_URL: backend };
      const r = await promisify(execFile)("pulumi", ["config", "get", "who", "--stack", stackName, "--non-interactive"], {
        cwd: dir,
        env,
      }).catch((e: { stderr: string; code: number }) => e);
      expect("code" in r && r.code).toBeTruthy();
      expect((r as { stderr: string }).stderr).toMatch(/incorrect passphrase|passphrase/i);
    } finally {
      await stack.workspace.removeStack(stackName, { force: true });
      fs.rmSync(path.join(dir, `Pulumi.${stackName}.yaml`), { force: true });
    }
  });
});
