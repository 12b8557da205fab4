/**
 * `npm run sim`: starts the local stand-ins and prints their URLs.
 * Runs until interrupted.
 */
import { HostwindsSim, WireAssumptions } from "./standins/hostwinds";
import { CloudflareSim } from "./standins/cloudflare";
import * as path from "path";
import { SshHostSim } from "./standins/ssh-host";
import { devDir } from "../lib/engine/pulumi-env";
import { intOption, parseCommandLine } from "../lib/args";

const HELP = `usage: npm run sim -- [options]

Starts local stand-ins of the Hostwinds Cloud API, Cloudflare's DNS API and the
servers' SSH hosts on loopback and prints their URLs. Each server that finishes
building gets an SSH host at its main IP (127.N.x.y:22, root with the password
the API reports), whose files land in .pulumi-dev/ssh-hosts/sim/<ip>/upper.

options:
  --port N            listen on port N (default: a free port)
  --build-ms N        how long a new server stays BUILD before it is ACTIVE (default 2000)
  --ip-delay-ms N     how long a bought IP takes to appear: an order Hostwinds holds (default 1000;
                      with --state the hold survives restarts)
  --no-rdns           get_instance_ips without rdns (an assumed field, see providers/hostwinds/wire.ts)
  --purchase-answer-ip  the IP purchase answer names the IP (an assumed field)
  --ip-purchase-action NAME  the name of the IP purchase action (default add_ip, assumed)
  --wire JSON         any assumption served the other way (WireAssumptions in
                      scripts/dev/standins/hostwinds.ts), e.g. '{"serverNames":"panel","images":"other"}'
  --keys a,b          API keys, one account each (default sim-key-alpha,sim-key-bravo)
  --state FILE        keep the Hostwinds accounts in FILE so they survive restarts
  --cf-port N         Cloudflare stand-in port (default: a free port)
  --cf-token T        Cloudflare API token it accepts (default sim-cf-token-0123456789)
  --zones a.com,b.io  Cloudflare zones to create (default the example tenants' zones)
  --no-ssh-hosts      servers get documentation-range IPs and no SSH host (needed without root)
  -h, --help          this text

Faults on demand: POST JSON to <control>/faults, e.g.
  curl -d '{"http429":5,"dropAfterPurchase":1}' <control>/faults
  fields: http429, rateLimitBody, http5xx (counts), slowMs, dropAfterPurchase (count), purchaseCooldownMs
Ledger of purchases and releases: GET <control>/ledger?key=<api key>`;

const COMMAND = {
  name: "sim",
  help: HELP,
  options: {
    port: { type: "string" },
    "build-ms": { type: "string" },
    "ip-delay-ms": { type: "string" },
    keys: { type: "string" },
    state: { type: "string" },
    "cf-port": { type: "string" },
    "cf-token": { type: "string" },
    zones: { type: "string" },
    "no-ssh-hosts": { type: "boolean" },
    "no-rdns": { type: "boolean" },
    "purchase-answer-ip": { type: "boolean" },
    "ip-purchase-action": { type: "string" },
    wire: { type: "string" },
  },
} as const;

async function main() {
  const { values: o } = parseCommandLine(COMMAND);
  const num = (k: "port" | "build-ms" | "ip-delay-ms" | "cf-port") => intOption("sim", k, o[k], 0);
  const unavailable = o["no-ssh-hosts"] ? "--no-ssh-hosts" : SshHostSim.unavailableReason();
  const hosts = unavailable ? undefined : new SshHostSim({ dir: path.join(devDir, "ssh-hosts", "sim") });
  const sim = await new HostwindsSim({
    hosts,
    port: num("port"),
    buildMs: num("build-ms"),
    ipDelayMs: num("ip-delay-ms"),
    apiKeys: o.keys?.split(","),
    stateFile: o.state,
    wire: {
      rdnsInIpList: !o["no-rdns"],
      purchaseAnswerIp: o["purchase-answer-ip"] === true,
      ipPurchaseAction: o["ip-purchase-action"],
      ...(o.wire ? (JSON.parse(o.wire) as WireAssumptions) : {}),
    },
  }).start();
  console.log(`hostwinds stand-in: ${sim.url}`);
  console.log(`control:            ${sim.controlUrl}`);
  console.log("use it with: HOSTWINDS_API_URL=" + sim.url + " HOSTWINDS_API_KEY=sim-key-alpha");
  const token = o["cf-token"] ?? "sim-cf-token-0123456789";
  const cf = await new CloudflareSim({ port: num("cf-port"), tokens: { [token]: ["*"] } }).start();
  for (const z of (o.zones ?? "acme-mail.com,globex.io,initech-outreach.com").split(",")) cf.addZone(z);
  console.log(`cloudflare stand-in: ${cf.url}`);
  console.log(`use it with: CLOUDFLARE_BASE_URL=${cf.url} CLOUDFLARE_API_TOKEN=${token}`);
  console.log(
    hosts
      ? "ssh hosts:          one per server at its main IP (127.N.x.y:22)"
      : `ssh hosts:          none (${unavailable}); set penguinmails-infra:installMailu false`,
  );
  const stop = async () => {
    await sim.stop();
    await cf.stop();
    await hosts?.stop();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

void main();
