/**
 * The `docker`, `netplan`, `iptables` and `systemctl` of the SSH-host
 * stand-in (scripts/dev/standins/ssh-host.ts): they run inside the stand-in host's
 * sandbox, validate what they are given the way the real tools would refuse
 * it, keep their state in /var/lib/penguinmails-standin and record every call
 * (secrets redacted) in /var/log/penguinmails-standin/calls.jsonl.
 *
 * usage (through the shims the stand-in installs): host-tools <tool> [args…]
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { load } from "js-yaml";
import { COMPOSE_KEYS, MAILU_ENV_KEYS, PINNED_MAILU_IMAGE } from "./host-spec";

export const STATE_DIR = "/var/lib/penguinmails-standin";
export const CALLS_LOG = "/var/log/penguinmails-standin/calls.jsonl";

export interface ToolCall {
  tool: string;
  args: string[];
  cwd: string;
  code: number;
}

class ToolError extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}

function readState<T>(name: string, empty: T): T {
  const p = path.join(STATE_DIR, `${name}.json`);
  return fs.existsSync(p) ? (JSON.parse(fs.readFileSync(p, "utf8")) as T) : empty;
}
function writeState(name: string, value: unknown): void {
  fs.mkdirSync(STATE_DIR, { recursive: true });
  fs.writeFileSync(path.join(STATE_DIR, `${name}.json`), JSON.stringify(value, null, 1));
}
const sha = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 12);
const out = (s: string) => process.stdout.write(s.endsWith("\n") ? s : `${s}\n`);
const err = (s: string) => process.stderr.write(s.endsWith("\n") ? s : `${s}\n`);

// ---- docker compose -------------------------------------------------------------------------

interface ComposeState {
  services: Record<string, { hash: string; image: string; running: boolean; restarts: number }>;
  /** Config hash per network that exists; compose will not change one in place. */
  networks: Record<string, string>;
  domains: string[];
  users: Record<string, { passwordSha: string; admin: boolean }>;
}
const emptyCompose = (): ComposeState => ({ services: {}, networks: {}, domains: [], users: {} });

interface Project {
  services: Record<string, { hash: string; image: string }>;
  networks: Record<string, string>;
}

/** Parses and checks ./docker-compose.yml and its env files; returns each service's and network's config hash. */
function loadProject(cwd: string): Project {
  const file = path.join(cwd, "docker-compose.yml");
  if (!fs.existsSync(file)) throw new ToolError(`no configuration file provided: not found (looked for ${file})`, 14);
  let doc: Record<string, unknown>;
  try {
    doc = load(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new ToolError(`yaml: ${(e as Error).message.split("\n")[0]}`, 15);
  }
  const problems: string[] = [];
  for (const k of Object.keys(doc)) if (!COMPOSE_KEYS.top.has(k)) problems.push(`(root) additional properties '${k}' not allowed`);
  const services = (doc.services ?? {}) as Record<string, Record<string, unknown>>;
  const result: Record<string, { hash: string; image: string }> = {};
  for (const [name, svc] of Object.entries(services)) {
    for (const k of Object.keys(svc))
      if (!COMPOSE_KEYS.service.has(k)) problems.push(`services.${name} additional properties '${k}' not allowed`);
    const image = String(svc.image ?? "");
    if (!image) problems.push(`services.${name}: no image`);
    else if (image.startsWith("ghcr.io/mailu/") && !PINNED_MAILU_IMAGE.test(image))
      problems.push(`services.${name}.image ${image}: not an exact MailU 2024.06.N release`);
    else if (!image.includes(":") || image.endsWith(":latest")) problems.push(`services.${name}.image ${image}: no pinned tag`);
    let env = "";
    for (const f of ([] as unknown[]).concat(svc.env_file ?? [])) {
      const p = path.resolve(cwd, String(f));
      if (!fs.existsSync(p)) {
        problems.push(`env file ${p} not found`);
        continue;
      }
      env += fs.readFileSync(p, "utf8");
      for (const [i, line] of fs.readFileSync(p, "utf8").split("\n").entries()) {
        if (!line.trim() || line.startsWith("#")) continue;
        const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
        if (!m) problems.push(`${p}:${i + 1}: not KEY=value`);
        else if (!MAILU_ENV_KEYS.has(m[1])) problems.push(`${p}:${i + 1}: ${m[1]} is not a MailU setting`);
      }
    }
    result[name] = { hash: sha(JSON.stringify(svc) + env), image };
  }
  const networks: Record<string, string> = { default: sha("{}") };
  for (const [name, net] of Object.entries((doc.networks ?? {}) as Record<string, Record<string, unknown>>)) {
    for (const k of Object.keys(net ?? {}))
      if (!COMPOSE_KEYS.network.has(k)) problems.push(`networks.${name} additional properties '${k}' not allowed`);
    networks[name] = sha(JSON.stringify(net ?? {}));
  }
  if (problems.length) throw new ToolError(`validating ${file}:\n${problems.map((p) => `  ${p}`).join("\n")}`, 15);
  return { services: result, networks };
}

function flaskMailu(state: ComposeState, args: string[]): string[] {
  const [cmd, ...rest] = args;
  const positional = rest.filter((a, i) => !a.startsWith("-") && !(rest[i - 1] ?? "").match(/^(-m|--mode)$/));
  switch (cmd) {
    case "--help":
    case undefined:
      out("Usage: flask mailu [OPTIONS] COMMAND [ARGS]...");
      return args;
    case "domain": {
      const [name] = positional;
      if (!name) throw new ToolError("Error: Missing argument 'DOMAIN_NAME'.", 2);
      if (!state.domains.includes(name)) state.domains.push(name);
      return args;
    }
    case "admin": {
      const [local, domain, password] = positional;
      if (!password) throw new ToolError("Error: Missing argument 'PASSWORD'.", 2);
      const mode = rest[rest.findIndex((a) => a === "-m" || a === "--mode") + 1] ?? "create";
      const email = `${local}@${domain}`;
      if (state.users[email] && mode === "create") throw new ToolError(`user ${email} already exists`, 1);
      if (!state.users[email] || mode === "update") state.users[email] = { passwordSha: sha(password), admin: true };
      if (!state.domains.includes(domain)) state.domains.push(domain);
      return args.map((a) => (a === password ? "[redacted]" : a));
    }
    default:
      throw new ToolError(`Error: No such command '${cmd}'.`, 2);
  }
}

function docker(args: string[], cwd: string): string[] {
  if (args[0] !== "compose") throw new ToolError(`the stand-in's docker knows only 'docker compose', not '${args[0] ?? ""}'`, 125);
  const a = args.slice(1);
  let project = path.basename(cwd);
  while (a[0]?.startsWith("-")) {
    const flag = a.shift()!;
    if (flag === "-p" || flag === "--project-name") project = a.shift() ?? "";
    else throw new ToolError(`unknown compose flag ${flag}`, 125);
  }
  const state = readState<ComposeState>(`compose-${project}`, emptyCompose());
  const [sub, ...rest] = a;
  let logged = args;
  switch (sub) {
    case "up": {
      if (!rest.includes("-d") && !rest.includes("--detach")) throw new ToolError("the stand-in runs only 'up -d'", 1);
      const project_ = loadProject(cwd);
      const wanted = project_.services;
      state.networks ??= {};
      for (const [name, hash] of Object.entries(project_.networks)) {
        if (state.networks[name] && state.networks[name] !== hash) {
          throw new ToolError(
            `network ${project}_${name} was found but has incorrect configuration: it needs to be recreated - options have changed (run 'docker compose -p ${project} down' first)`,
            1,
          );
        }
        if (!state.networks[name]) err(` Network ${project}_${name}  Created`);
        state.networks[name] = hash;
      }
      for (const [name, svc] of Object.entries(wanted)) {
        const was = state.services[name];
        const word = !was ? "Started" : was.hash !== svc.hash ? "Recreated" : was.running ? "Running" : "Started";
        state.services[name] = {
          hash: svc.hash,
          image: svc.image,
          running: true,
          restarts: was && was.hash === svc.hash ? was.restarts : 0,
        };
        err(` Container ${project}-${name}-1  ${word}`);
      }
      if (rest.includes("--remove-orphans")) for (const name of Object.keys(state.services)) if (!wanted[name]) delete state.services[name];
      break;
    }
    case "ps": {
      loadProject(cwd);
      const names = rest.filter((r) => !r.startsWith("-"));
      for (const [name, s] of Object.entries(state.services))
        if (s.running && (!names.length || names.includes(name)))
          out(rest.includes("-q") ? sha(`${project}-${name}`) : `${project}-${name}-1  running`);
      break;
    }
    case "restart": {
      loadProject(cwd);
      for (const name of rest.filter((r) => !r.startsWith("-"))) {
        if (!state.services[name]?.running) throw new ToolError(`service "${name}" is not running`, 1);
        state.services[name].restarts++;
        err(` Container ${project}-${name}-1  Restarted`);
      }
      break;
    }
    case "exec": {
      loadProject(cwd);
      const r = rest.filter((x) => x !== "-T");
      const [service, ...command] = r;
      if (!state.services[service]?.running) throw new ToolError(`service "${service}" is not running`, 1);
      if (service !== "admin" || command[0] !== "flask" || command[1] !== "mailu")
        throw new ToolError(`the stand-in runs only 'flask mailu' in admin, not '${command.join(" ")}'`, 126);
      logged = [...args.slice(0, args.length - command.length), "flask", "mailu", ...flaskMailu(state, command.slice(2))];
      break;
    }
    case "down":
      for (const [name, s] of Object.entries(state.services)) {
        if (s.running) err(` Container ${project}-${name}-1  Removed`);
        s.running = false;
      }
      state.networks = {};
      break;
    default:
      throw new ToolError(`the stand-in's compose does not know '${sub ?? ""}'`, 1);
  }
  writeState(`compose-${project}`, state);
  return logged;
}

// ---- netplan ---------------------------------------------------------------------------------

const CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/;

function netplan(args: string[]): string[] {
  const [sub] = args;
  if (sub !== "apply" && sub !== "generate") throw new ToolError(`the stand-in's netplan knows apply and generate, not '${sub ?? ""}'`, 1);
  const dir = "/etc/netplan";
  const files = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".yaml"))
        .sort()
    : [];
  const addresses: Record<string, string[]> = {};
  for (const f of files) {
    const p = path.join(dir, f);
    if ((fs.statSync(p).mode & 0o077) !== 0)
      err(`** (generate:1): WARNING **: Permissions for ${p} are too open. Netplan configuration should NOT be accessible by others.`);
    let doc: { network?: { version?: unknown; ethernets?: Record<string, Record<string, unknown>> } };
    try {
      doc = load(fs.readFileSync(p, "utf8")) as typeof doc;
    } catch (e) {
      throw new ToolError(`${p}: Invalid YAML: ${(e as Error).message.split("\n")[0]}`, 1);
    }
    if (!doc?.network) throw new ToolError(`${p}: Error in network definition: expected 'network' at the top`, 1);
    if (doc.network.version !== 2) throw new ToolError(`${p}: Error in network definition: Only version 2 is supported`, 1);
    for (const [nic, def] of Object.entries(doc.network.ethernets ?? {})) {
      for (const k of Object.keys(def ?? {}))
        if (!["addresses", "dhcp4", "dhcp6", "routes", "nameservers", "match", "set-name", "mtu"].includes(k))
          throw new ToolError(`${p}: Error in network definition: unknown key '${k}'`, 1);
      for (const a of (def?.addresses ?? []) as unknown[]) {
        if (typeof a !== "string" || !CIDR.test(a))
          throw new ToolError(`${p}: Error in network definition: malformed address '${String(a)}', must be X.X.X.X/NN`, 1);
        (addresses[nic] ??= []).push(a);
      }
    }
  }
  if (sub === "apply") writeState("netplan", { applied: addresses });
  return args;
}

// ---- iptables --------------------------------------------------------------------------------

const BUILTIN: Record<string, string[]> = { nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"], filter: ["INPUT", "FORWARD", "OUTPUT"] };
const TARGETS = ["ACCEPT", "DROP", "RETURN", "SNAT", "DNAT", "MASQUERADE", "REJECT", "LOG"];
type Tables = Record<string, Record<string, string[]>>;

function iptables(args: string[]): string[] {
  const a = [...args];
  let table = "filter";
  if (a[0] === "-t") {
    a.shift();
    table = a.shift() ?? "";
  }
  if (!BUILTIN[table])
    throw new ToolError(`iptables v1.8.9 (nf_tables): can't initialize iptables table '${table}': Table does not exist`, 3);
  const tables = readState<Tables>("iptables", {});
  const chains = (tables[table] ??= Object.fromEntries(BUILTIN[table].map((c) => [c, []])));
  const [op, chain, ...rule] = a;
  const noChain = () => new ToolError("iptables: No chain/target/match by that name.", 1);
  const checkRule = (r: string[]) => {
    const j = r[r.indexOf("-j") + 1];
    if (!r.includes("-j") || !j) throw new ToolError("iptables: a rule needs a target (-j)", 2);
    if (!TARGETS.includes(j) && !chains[j]) throw new ToolError(`iptables v1.8.9 (nf_tables): Chain '${j}' does not exist`, 2);
    if (j === "SNAT") {
      const to = r[r.indexOf("--to-source") + 1];
      if (table !== "nat" || !r.includes("--to-source") || !/^\d+\.\d+\.\d+\.\d+$/.test(to ?? ""))
        throw new ToolError("iptables: SNAT needs -t nat and --to-source <IPv4>", 2);
    }
    return r.join(" ");
  };
  switch (op) {
    case "-N":
      if (chains[chain]) throw new ToolError("iptables: Chain already exists.", 1);
      chains[chain] = [];
      break;
    case "-F":
      if (chain === undefined) for (const c of Object.keys(chains)) chains[c] = [];
      else if (!chains[chain]) throw noChain();
      else chains[chain] = [];
      break;
    case "-X":
      if (!chains[chain] || BUILTIN[table].includes(chain)) throw noChain();
      if (chains[chain].length) throw new ToolError("iptables: Directory not empty.", 1);
      if (Object.values(chains).some((rs) => rs.some((r) => r.endsWith(`-j ${chain}`))))
        throw new ToolError("iptables: Too many links.", 1);
      delete chains[chain];
      break;
    case "-A":
    case "-I":
    case "-C":
    case "-D": {
      if (!chains[chain]) throw noChain();
      const r = op === "-I" && /^\d+$/.test(rule[0] ?? "") ? rule.slice(1) : rule;
      const text = checkRule(r);
      const at = chains[chain].indexOf(text);
      if (op === "-A") chains[chain].push(text);
      else if (op === "-I") chains[chain].unshift(text);
      else if (at < 0) throw new ToolError("iptables: Bad rule (does a matching rule exist in that chain?).", 1);
      else if (op === "-D") chains[chain].splice(at, 1);
      break;
    }
    case "-S":
      for (const [c, rs] of Object.entries(chains)) {
        if (chain && c !== chain) continue;
        out(BUILTIN[table].includes(c) ? `-P ${c} ACCEPT` : `-N ${c}`);
        for (const r of rs) out(`-A ${c} ${r}`);
      }
      break;
    default:
      throw new ToolError(`iptables: the stand-in does not know '${op ?? ""}'`, 2);
  }
  if (op !== "-C" && op !== "-S") writeState("iptables", tables);
  return args;
}

// ---- systemctl -------------------------------------------------------------------------------

function systemctl(args: string[]): string[] {
  const [sub, unit] = args;
  const state = readState<{ enabled: string[]; reloads: number; active?: string[] }>("systemd", { enabled: [], reloads: 0 });
  if (sub === "daemon-reload") state.reloads++;
  else if (sub === "start") {
    // A timer or service started now (systemctl(1) "start"); the stand-in runs nothing on schedule.
    if (!unit || !fs.existsSync(path.join("/etc/systemd/system", unit)))
      throw new ToolError(`Failed to start ${unit ?? ""}: Unit ${unit ?? ""} not found.`, 5);
    state.active = [...new Set([...(state.active ?? []), unit])];
  } else if (sub === "enable") {
    if (!unit || !fs.existsSync(path.join("/etc/systemd/system", unit)))
      throw new ToolError(`Failed to enable unit: Unit file ${unit ?? ""} does not exist.`, 1);
    if (!state.enabled.includes(unit)) state.enabled.push(unit);
    err(`Created symlink /etc/systemd/system/multi-user.target.wants/${unit} → /etc/systemd/system/${unit}.`);
  } else throw new ToolError(`the stand-in's systemctl knows daemon-reload, enable and start, not '${sub ?? ""}'`, 1);
  writeState("systemd", state);
  return args;
}

// ---- entry -----------------------------------------------------------------------------------

const TOOLS: Record<string, (args: string[], cwd: string) => string[]> = { docker, netplan, iptables, systemctl };

function main(): void {
  const [tool, ...args] = process.argv.slice(2);
  const run = TOOLS[tool ?? ""];
  if (!run) {
    err(`usage: host-tools <${Object.keys(TOOLS).join("|")}> [args…]`);
    process.exit(2);
  }
  const cwd = process.cwd();
  let logged: string[];
  let code = 0;
  // Steps run side by side on one host (the backup and network steps both call systemctl): one tool call
  // at a time, so a call never reads another's half-written state.
  fs.mkdirSync(STATE_DIR, { recursive: true });
  const lock = path.join(STATE_DIR, ".lock");
  for (let i = 0; ; i++) {
    try {
      fs.closeSync(fs.openSync(lock, "wx"));
      break;
    } catch {
      if (i > 1000) fs.rmSync(lock, { force: true }); // a call that died holding it (about 10 s)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
  process.on("exit", () => fs.rmSync(lock, { force: true }));
  try {
    logged = run(args, cwd);
  } catch (e) {
    if (!(e instanceof ToolError)) throw e;
    err(e.message);
    code = e.code;
    // A failed call's arguments may hold a secret the parser never reached: log only the subcommand.
    logged = args.slice(0, 4);
  }
  fs.mkdirSync(path.dirname(CALLS_LOG), { recursive: true });
  fs.appendFileSync(CALLS_LOG, JSON.stringify({ tool, args: logged, cwd, code } satisfies ToolCall) + "\n");
  process.exit(code);
}

if (require.main === module) main();
