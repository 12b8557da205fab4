/**
 * The secrets provider of an engine run (scripts/lib/engine/secrets.ts): the development
 * passphrase only for the local development backend; any other backend needs the operator's own.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEV_PASSPHRASE, SecretsProviderError, isDevBackend, secretsFor } from "../../scripts/lib/engine/secrets";

const DEV = "/repo/.pulumi-dev";
const devBackend = `file://${DEV}/backends/demo`;
const real = ["file:///srv/pulumi-state", "postgres://pulumi:hunter2@db.internal/state", "s3://bucket/state"];

describe("secrets provider of an engine run", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pm-secrets-"));
  const file = path.join(dir, "passphrase");
  fs.writeFileSync(file, "an operator's passphrase\n");
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("the development backend is a folder under .pulumi-dev/backends, nothing else", () => {
    expect(isDevBackend(devBackend, DEV)).toBe(true);
    expect(isDevBackend(`file://${DEV}/backends/../../elsewhere`, DEV)).toBe(false);
    expect(isDevBackend(`file://${DEV}/backendsX`, DEV)).toBe(false);
    for (const u of real) expect(isDevBackend(u, DEV)).toBe(false);
  });

  test("the development backend gets the development passphrase when nothing else is configured", () => {
    expect(secretsFor(devBackend, {}, DEV)).toMatchObject({
      env: { PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE },
      secretsProvider: "passphrase",
    });
    // A developer's shell with the development passphrase exported (README) is fine there.
    expect(secretsFor(devBackend, { PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE }, DEV).env).toEqual({});
  });

  test.each(real)("%s without a provider, or with the development passphrase, is refused naming the choices", (url) => {
    for (const env of [{}, { PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE }]) {
      let err: Error | undefined;
      try {
        secretsFor(url, env, DEV);
      } catch (e) {
        err = e as Error;
      }
      expect(err).toBeInstanceOf(SecretsProviderError);
      expect(err!.message).toContain("PULUMI_CONFIG_PASSPHRASE_FILE");
      expect(err!.message).toContain("awskms://");
      expect(err!.message).toContain("hashivault://");
      expect(err!.message).not.toContain("hunter2");
    }
  });

  test("a passphrase file, an operator's passphrase or a KMS URL is accepted; a stack created gets it", () => {
    const url = real[0];
    expect(secretsFor(url, { PULUMI_CONFIG_PASSPHRASE_FILE: file }, DEV)).toEqual({
      env: {},
      secretsProvider: "passphrase",
      describe: `the passphrase in ${file}`,
    });
    expect(secretsFor(url, { PULUMI_CONFIG_PASSPHRASE: "ci-secret" }, DEV)).toMatchObject({ env: {}, secretsProvider: "passphrase" });
    expect(secretsFor(url, { PENGUINMAILS_SECRETS_PROVIDER: "hashivault://penguinmails" }, DEV)).toMatchObject({
      env: {},
      secretsProvider: "hashivault://penguinmails",
    });
    // On the development backend the development passphrase stays beside it, for that backend's older stacks.
    expect(secretsFor(devBackend, { PENGUINMAILS_SECRETS_PROVIDER: "hashivault://penguinmails-tests" }, DEV)).toEqual({
      env: { PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE },
      secretsProvider: "hashivault://penguinmails-tests",
      describe: "hashivault://penguinmails-tests",
    });
    expect(secretsFor(url, { PENGUINMAILS_SECRETS_PROVIDER: "awskms://alias/penguinmails?region=us-east-1" }, DEV).secretsProvider).toBe(
      "awskms://alias/penguinmails?region=us-east-1",
    );
  });

  test("what would silently go wrong is refused: both passphrase variables (Pulumi reads the variable first), a missing or empty file, a bad URL", () => {
    const url = real[0];
    expect(() => secretsFor(url, { PULUMI_CONFIG_PASSPHRASE: "x", PULUMI_CONFIG_PASSPHRASE_FILE: file }, DEV)).toThrow(
      /Pulumi reads PULUMI_CONFIG_PASSPHRASE first/,
    );
    expect(() => secretsFor(url, { PULUMI_CONFIG_PASSPHRASE_FILE: path.join(dir, "missing") }, DEV)).toThrow(/cannot be read/);
    fs.writeFileSync(path.join(dir, "empty"), "\n");
    expect(() => secretsFor(url, { PULUMI_CONFIG_PASSPHRASE_FILE: path.join(dir, "empty") }, DEV)).toThrow(/is empty/);
    expect(() => secretsFor(url, { PENGUINMAILS_SECRETS_PROVIDER: "vault:penguinmails" }, DEV)).toThrow(/not a key management URL/);
  });
});
