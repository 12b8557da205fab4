/**
 * The Vault transit stand-in (scripts/dev/standins/vault-transit.ts) answers as Vault's transit API
 * documents: base64 plaintext in, `vault:v1:` ciphertext out, the token required, a changed
 * ciphertext refused. (The real `pulumi` CLI reads and writes every engine test's stack through it:
 * test/global-setup.ts.)
 */
import { VaultTransitSim } from "../../scripts/dev/standins/vault-transit";

describe("Vault transit stand-in", () => {
  let vault: VaultTransitSim;
  beforeAll(async () => {
    vault = await new VaultTransitSim({ token: "unit-token" }).start();
  });
  afterAll(() => vault.stop());

  const write = async (path: string, body: unknown, token = "unit-token") => {
    const r = await fetch(`${vault.url}/v1/${path}`, {
      method: "PUT",
      headers: { "X-Vault-Token": token, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as { data?: Record<string, string>; errors?: string[] } };
  };

  test("encrypts and decrypts a data key; a new stand-in (the next test run) still decrypts it", async () => {
    const key = Buffer.from("a stack's data key, 32 bytes....");
    const enc = await write("transit/encrypt/pm", { plaintext: key.toString("base64") });
    expect(enc.status).toBe(200);
    expect(enc.body.data!.ciphertext).toMatch(/^vault:v1:[A-Za-z0-9+/=]+$/);
    expect(enc.body.data!.ciphertext).not.toContain(key.toString("base64"));
    const dec = await write("transit/decrypt/pm", { ciphertext: enc.body.data!.ciphertext });
    expect(Buffer.from(dec.body.data!.plaintext, "base64").equals(key)).toBe(true);

    const next = await new VaultTransitSim({ token: "other" }).start();
    try {
      const r = await fetch(`${next.url}/v1/transit/decrypt/pm`, {
        method: "PUT",
        headers: { "X-Vault-Token": "other" },
        body: JSON.stringify({ ciphertext: enc.body.data!.ciphertext }),
      });
      expect(Buffer.from(((await r.json()) as { data: { plaintext: string } }).data.plaintext, "base64").equals(key)).toBe(true);
    } finally {
      await next.stop();
    }
  });

  test("refuses a wrong token, another key's or a changed ciphertext, and an unknown route, as Vault's errors", async () => {
    expect(await write("transit/encrypt/pm", { plaintext: "eA==" }, "wrong")).toEqual({
      status: 403,
      body: { errors: ["permission denied"] },
    });
    const { ciphertext } = (await write("transit/encrypt/pm", { plaintext: "eA==" })).body.data!;
    expect((await write("transit/decrypt/other", { ciphertext })).status).toBe(400);
    const changed = ciphertext.slice(0, -4) + (ciphertext.endsWith("AAA=") ? "BBB=" : "AAA=");
    expect((await write("transit/decrypt/pm", { ciphertext: changed })).status).toBe(400);
    expect((await write("kv/data/x", {})).status).toBe(404);
    expect(vault.calls.encrypt).toBeGreaterThanOrEqual(2);
  });
});
