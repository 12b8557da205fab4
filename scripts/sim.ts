/**
 * `npm run sim`: starts the local stand-ins and prints their URLs.
 * Runs until interrupted.
 */
import { HostwindsSim } from "./sim/hostwinds";

const HELP = `usage: npm run sim -- [options]

Starts a local stand-in of the Hostwinds Cloud API on loopback and prints its URL.

options:
  --port N            listen on port N (default: a free port)
  --build-ms N        how long a new server stays BUILD before it is ACTIVE (default 2000)
  --ip-delay-ms N     how long a bought IP takes to appear (default 1000)
  --keys a,b          API keys, one account each (default sim-key-alpha,sim-key-bravo)
  --state FILE        keep the accounts in FILE so they survive restarts
  -h, --help          this text

Faults on demand: POST JSON to <control>/faults, e.g.
  curl -d '{"http429":5,"dropAfterPurchase":1}' <control>/faults
  fields: http429, rateLimitBody, http5xx (counts), slowMs, dropAfterPurchase (count), purchaseCooldownMs
Ledger of purchases and releases: GET <control>/ledger?key=<api key>`;

function parse(argv: string[]) {
  const o: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") {
      console.log(HELP);
      process.exit(0);
    }
    if (!a.startsWith("--") || i + 1 >= argv.length) {
      console.error(`sim: unknown or incomplete option '${a}' (see --help)`);
      process.exit(2);
    }
    o[a.slice(2)] = argv[++i];
  }
  return o;
}

async function main() {
  const o = parse(process.argv.slice(2));
  const num = (k: string) => (o[k] === undefined ? undefined : Number(o[k]));
  const sim = await new HostwindsSim({
    port: num("port"),
    buildMs: num("build-ms"),
    ipDelayMs: num("ip-delay-ms"),
    apiKeys: o.keys?.split(","),
    stateFile: o.state,
  }).start();
  console.log(`hostwinds stand-in: ${sim.url}`);
  console.log(`control:            ${sim.controlUrl}`);
  console.log("use it with: HOSTWINDS_API_URL=" + sim.url + " HOSTWINDS_API_KEY=sim-key-alpha");
  const stop = async () => {
    await sim.stop();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

void main();
