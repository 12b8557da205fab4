/**
 * A preview inline serves its dynamic providers in the engine worker (scripts/lib/stacks/
 * in-process-providers.ts; the CLI attaches through PULUMI_DEBUG_PROVIDERS) and each run still
 * sees what a provider process of its own would: the DNS provider lists each zone once per
 * process for its ownership checks, so a worker that kept its modules would answer the next
 * preview from the zone as it was. Here a record made by hand lands in the tenant's zone between
 * two previews in the same worker, and the second preview must refuse it, as a fresh provider
 * process does; a preview through a provider process (providersInProcess: false) gives the same
 * answer. The Cloudflare client is made once per module from the first run's token too: the
 * second tenant's preview, on another Cloudflare account, lists its zone with its own token.
 */
import { fleetPreview } from "../../scripts/cli/fleet/commands";
import { engineWorkerPids } from "../../scripts/lib/stacks/engine-workers";
import { CloudflareClient } from "../../providers/cloudflare/client";
import { ENGINE_TEST_CEILING_MS } from "./harness";
import { StandinFleet, startStandinFleet } from "./standin-fleet";

jest.setTimeout(ENGINE_TEST_CEILING_MS);

const SECOND_TOKEN = "sim-cf-token-in-process-second-0123456789";

describe("dynamic providers served in the engine worker for a preview", () => {
  let fleet: StandinFleet;
  const opts = (providersInProcess?: boolean) => ({
    ...fleet.options({ inline: true }),
    ...(providersInProcess === false ? { providersInProcess } : {}),
  });

  beforeAll(async () => {
    fleet = await startStandinFleet(
      "in-process",
      { buildMs: 200, ipDelayMs: 150 },
      {
        pa: { sendingIps: 1 },
        // Its zone is served only to the second Cloudflare account's token.
        pb: { sendingIps: 1, config: { "penguinmails-infra:cloudflareAccount": "second" } },
      },
    );
    process.env.CLOUDFLARE_API_TOKEN__SECOND = SECOND_TOKEN;
    // Each token sees its own tenant's zone only: a run that used the other's token could not list it.
    fleet.cf.tokens[SECOND_TOKEN] = ["pb-mail.com"];
    fleet.cf.tokens[process.env.CLOUDFLARE_API_TOKEN!] = ["pa-mail.com"];
  });
  afterAll(() => fleet.stop([]));

  test("each preview in one worker reads the zone afresh: a record made by hand between two previews is refused by the second", async () => {
    const [first] = await fleetPreview(opts(), ["pa"]);
    expect(first.error ?? "").toBe("");
    expect(first.status).toBe("ok");
    const worker = engineWorkerPids();
    expect(worker).toHaveLength(1);

    // By hand, in the tenant's zone: the DMARC policy the tenant's plan is about to create.
    const c = new CloudflareClient({ apiToken: process.env.CLOUDFLARE_API_TOKEN!, baseUrl: process.env.CLOUDFLARE_BASE_URL! });
    await c.create(await c.zoneId("pa-mail.com"), {
      type: "TXT",
      name: "_dmarc.pa-mail.com",
      content: '"v=DMARC1; p=none"',
      ttl: 300,
      proxied: false,
    });

    const [second] = await fleetPreview(opts(), ["pa"]);
    expect(engineWorkerPids()).toEqual(worker);
    expect(second.status).toBe("failed");
    expect(second.error ?? "").toMatch(/_dmarc\.pa-mail\.com/);

    // A provider process of its own answers the same.
    const [byProcess] = await fleetPreview(opts(false), ["pa"]);
    expect(byProcess.status).toBe("failed");
    expect(byProcess.error ?? "").toMatch(/_dmarc\.pa-mail\.com/);
  });

  test("the next tenant, on another Cloudflare account, is previewed with its own token in the same worker", async () => {
    const worker = engineWorkerPids();
    const [pb] = await fleetPreview(opts(), ["pb"]);
    expect(pb.error ?? "").toBe("");
    expect(pb.status).toBe("ok");
    expect(engineWorkerPids()).toEqual(worker);
  });
});
