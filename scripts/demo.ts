/**
 * `npm run demo`. The full demo (a tenant stack with servers, IPs, DNS and
 * MailU, a preview with its cost delta, the policy pack blocking an
 * over-budget change, a release) needs the provider and components that are
 * not built yet. Until then it shows what is: the Hostwinds client buying and
 * releasing against the local stand-in, with the stand-in's ledger.
 */
import { HostwindsClient } from "../providers/hostwinds/client";
import { HostwindsSim } from "./sim/hostwinds";

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  console.log("usage: npm run demo\n\nStarts the Hostwinds stand-in on loopback, buys a server and two sending IPs with the client,\nsets their reverse DNS, releases everything, and prints the account's ledger. Nothing leaves this machine.");
  process.exit(0);
}

async function main() {
  const say = (s: string) => console.log(`\n== ${s}`);
  const sim = await new HostwindsSim({ buildMs: 1500, ipDelayMs: 800 }).start();
  const key = "sim-key-alpha";
  const hw = new HostwindsClient({ apiKey: key, apiUrl: sim.url, requestsPerSecond: 10 });
  try {
    say(`Hostwinds stand-in listening at ${sim.url}`);
    say("Buying one server (Hostwinds answers without an id; we find it by its name)");
    await hw.buyInstance({ template: "debian-12", planId: 102, locationId: 2, billingCycle: "monthly", name: "demo-acme-mx1" });
    const srv = await hw.waitFor("demo-acme-mx1 to become ACTIVE", async () => {
      const i = await hw.findInstanceByName("demo-acme-mx1");
      return i?.status === "ACTIVE" ? i : undefined;
    }, { initialDelayMs: 300, onProgress: (l) => console.log(`   ${l}`) });
    console.log(`   server ${srv.serviceid} is ACTIVE with main IP ${srv.main_ip}`);

    say("Buying two sending IPs, one at a time, each found by comparing the IP list before and after");
    for (let n = 1; n <= 2; n++) {
      const before = new Set((await hw.listIps(srv.serviceid)).map((i) => i.ip));
      await hw.buySecondaryIp(srv.serviceid);
      const ip = await hw.waitFor(`sending IP ${n}`, async () => (await hw.listIps(srv.serviceid)).find((i) => !before.has(i.ip)), { initialDelayMs: 200 });
      await hw.setRdns(srv.serviceid, ip.ip, `mx1-${n}.acme-mail.example`);
      console.log(`   ${ip.ip} → rDNS mx1-${n}.acme-mail.example`);
    }

    say("Releasing everything");
    for (const ip of await hw.listIps(srv.serviceid)) if (ip.ip !== srv.main_ip) await hw.deleteIp(srv.serviceid, ip.ip);
    await hw.terminate(srv.serviceid);

    say("The account's ledger");
    for (const e of sim.ledger(key)) console.log(`   ${e.event.padEnd(8)} ${e.kind.padEnd(6)} ${String(e.serviceId).padEnd(6)} ${(e.ip ?? e.name ?? "").padEnd(16)} $${e.monthlyUsd.toFixed(2)}/month`);
    say("Coming next: the same through a tenant stack (`pulumi up` buys, the diff releases), with DNS, MailU and the policy pack.");
  } finally {
    await sim.stop();
  }
}

main().catch((e) => {
  console.error(`demo failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
