/**
 * `npm run verify -- --stack <tenant>`: checks that what a tenant stack
 * published is live and that its servers answer mail properly. See HELP.
 */
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../lib/engine/pulumi-env";
import { openTenantStack } from "../lib/stacks/stacks";
import { fleetProject } from "../lib/stacks/tenants";
import { StackOutputs, StackServer, verifyStack } from "../lib/verify/index";
import { SshAccess } from "../lib/verify/relay";
import { relayAccess } from "./fleet/recovery";
import { failed, renderTable } from "../lib/verify/result";
import { Values, listOption, parseCommandLine, usageError } from "../lib/args";

const HELP = `usage: npm run verify -- (--stack <tenant> | --outputs <file>) [options]

Reads a tenant stack's outputs and checks, printing one line per check:
  dns record    every record the stack made, served with the same content by the zone's
                authoritative servers and by each resolver (propagation)
  spf/dkim/dmarc  SPF covers every sending IP within 10 lookups; DKIM is the stack's key;
                DMARC parses (p=none is a warning)
  reverse dns   per sending IP: PTR = its host name, and the host name resolves back
  main ptr      per server: its main IP's PTR = the server's host name, which resolves back
  helo = ptr    per sending/standby IP: the server's outbound relay (read over SSH with
                postconf -P; --stack only) has a transport binding it whose HELO equals its PTR
  mta-sts       per domain: one _mta-sts TXT; https://mta-sts.<domain>/.well-known/mta-sts.txt
                served (200, text/plain, trusted certificate); version STSv1, mode, max_age,
                mx lines covering every MX; the TXT id is the one derived from the policy served
  certificate name  per name the stack points at a server (CNAME: autoconfig, autodiscover,
                mta-sts): the server's HTTPS certificate for it (SNI) names it and is trusted
  report mailbox  per address DMARC (rua, ruf) and TLS-RPT (rua) name: its domain's MX takes
                RCPT TO for it (250); nothing is sent
  blocklist     per sending IP and list: listed fails; 127.255.255.x answers are "unknown"
  smtp          per server, ports 25/465/587: banner names the host, STARTTLS (25, 587),
                certificate names the host and is trusted; days to expiry
  backup        per server with backups: its restic repository read from here (restic installed):
                snapshots, stored size; fails when the newest is older than backup.maxAgeHours,
                when there is none or when the repository cannot be opened

options:
  --stack T             read outputs of tenant T's stack (backend from PULUMI_BACKEND_URL)
  --outputs FILE        or from a file of 'pulumi stack output --json'
  --resolvers a,b       resolvers to compare (ip or ip:port; default this machine's)
  --authoritative a,b   the zone's servers (default: looked up by NS)
  --blocklists a,b      DNS blocklist zones (default zen.spamhaus.org)
  --smtp-host ADDR      reach every server's SMTP at ADDR instead of its main IP
  --smtp-ports 25=2525,465=2465,587=2587   port mapping (tests)
  --ca FILE             also trust this CA (PEM) for the SMTP and MTA-STS certificates
  --https-host ADDR     reach every server's HTTPS (mta-sts, certificate names) at ADDR (tests)
  --https-port N        ... on port N (default 443)
  --no-smtp             skip the SMTP checks (and the report mailboxes)
  --no-mta-sts          skip the MTA-STS check
  --no-certificate-names  skip the certificate name check
  --no-backups          skip the backup check
  --json                the results as JSON
  -h, --help            this text

Exit status 1 when any check fails ("warn" and "unknown" do not fail), 2 for bad usage.`;

const COMMAND = {
  name: "verify",
  help: HELP,
  options: {
    stack: { type: "string" },
    outputs: { type: "string" },
    resolvers: { type: "string" },
    authoritative: { type: "string" },
    blocklists: { type: "string" },
    "smtp-host": { type: "string" },
    "smtp-ports": { type: "string" },
    ca: { type: "string" },
    "https-host": { type: "string" },
    "https-port": { type: "string" },
    "no-mta-sts": { type: "boolean" },
    "no-certificate-names": { type: "boolean" },
    root: { type: "string" },
    json: { type: "boolean" },
    "no-smtp": { type: "boolean" },
    "no-backups": { type: "boolean" },
  },
} as const;
type Flags = Values<typeof COMMAND.options>;

interface Loaded {
  outputs: StackOutputs;
  ssh?: (server: StackServer) => Promise<SshAccess | undefined>;
}

async function load(flags: Flags): Promise<Loaded> {
  if (typeof flags.outputs === "string") return { outputs: JSON.parse(fs.readFileSync(flags.outputs, "utf8")) as StackOutputs };
  const tenant = String(flags.stack);
  const stack = await openTenantStack(fleetProject(path.resolve(String(flags.root ?? projectRoot))), tenant, 0, {}, false);
  const outs = await stack.outputs();
  const outputs = Object.fromEntries(Object.entries(outs).map(([k, v]) => [k, v.value])) as unknown as StackOutputs;
  // The relay is read over SSH as the install's network step reaches the server (its connection in state).
  return { outputs, ssh: relayAccess(stack, tenant) };
}

async function main(): Promise<number> {
  const { values: flags } = parseCommandLine(COMMAND);
  if (flags.stack === undefined && flags.outputs === undefined) usageError("verify", "--stack <tenant> or --outputs <file> is needed");
  const list = (k: "resolvers" | "authoritative" | "blocklists" | "smtp-ports") => listOption(flags[k]);
  const ports = list("smtp-ports") ? Object.fromEntries(list("smtp-ports")!.map((p) => p.split("=").map(Number))) : undefined;
  const httpsPort = typeof flags["https-port"] === "string" ? Number(flags["https-port"]) : undefined;
  if (httpsPort !== undefined && !(Number.isInteger(httpsPort) && httpsPort > 0 && httpsPort < 65536))
    usageError("verify", `--https-port must be a port number, not '${flags["https-port"]}'`);
  const { outputs, ssh } = await load(flags);
  const ca = typeof flags.ca === "string" ? fs.readFileSync(flags.ca, "utf8") : undefined;
  if (!outputs.dnsRecords || !outputs.servers)
    throw new Error("the outputs have no dnsRecords or servers: is this a tenant stack that has been deployed?");
  const https = { host: typeof flags["https-host"] === "string" ? flags["https-host"] : undefined, port: httpsPort, ca };
  const results = await verifyStack(outputs, {
    resolvers: list("resolvers"),
    authoritative: list("authoritative"),
    blocklists: list("blocklists"),
    smtpHost: typeof flags["smtp-host"] === "string" ? flags["smtp-host"] : undefined,
    backups: flags["no-backups"] ? false : undefined,
    smtp: flags["no-smtp"] ? false : { ports, ca },
    ssh,
    mtaSts: flags["no-mta-sts"] ? false : https,
    certificates: flags["no-certificate-names"] ? false : https,
  });
  console.log(flags.json ? JSON.stringify({ tenant: outputs.tenant, results }, null, 1) : renderTable(results));
  return failed(results) ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e: Error) => {
      console.error(`verify: ${e.message}`);
      process.exit(1);
    },
  );
}
