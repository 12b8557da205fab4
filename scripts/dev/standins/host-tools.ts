/**
 * The parts of a server the SSH-host stand-in (scripts/dev/standins/ssh-host.ts)
 * cannot run for real: the Docker daemon (no registry images here) and
 * systemd. They sit in /usr/local/sbin, ahead of the real tools on PATH:
 *   - `docker compose …` / `docker-compose …`: behave as the real CLI would when
 *     the real one is not installed (command not found) or has no compose
 *     plugin; the project is judged by the real Compose Debian installed
 *     (`config -q`), the env files against MailU's documented keys
 *     (host-spec.ts), then `up`/`ps`/`exec`/`restart`/`down` keep state
 *     instead of running containers; `up` creates the network's bridge with
 *     its gateway address, as Docker does;
 *   - `systemctl`: no systemd; records enable/restart/reload, and reloads a
 *     Postfix that the test harness started (`postfix reload`).
 * Every call is recorded (secrets redacted) in /var/log/penguinmails-standin/calls.jsonl,
 * state in /var/lib/penguinmails-standin.
 *
 * usage (through the shims the stand-in installs): host-tools <tool> [args…]
 */
import { createHash } from "crypto";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { MAILU_ENV_KEYS, PINNED_MAILU_IMAGE } from "./host-spec";

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

/** Where Debian's packages put the real tools. */
const REAL_DOCKER = "/usr/bin/docker";
const REAL_COMPOSE_V1 = "/usr/bin/docker-compose";
const COMPOSE_PLUGIN = "/usr/libexec/docker/cli-plugins/docker-compose";

// ---- docker compose -------------------------------------------------------------------------

interface ComposeState {
  services: Record<string, { hash: string; image: string; running: boolean; restarts: number }>;
  /** Config hash per network that exists; compose will not change one in place. */
  networks: Record<string, string>;
  domains: string[];
  users: Record<string, { passwordSha: string; admin: boolean; quotaBytes?: number; enabled?: boolean }>;
  aliases?: Record<string, string[]>;
}
const emptyCompose = (): ComposeState => ({ services: {}, networks: {}, domains: [], users: {} });

interface Project {
  services: Record<string, { hash: string; image: string }>;
  networks: Record<string, { hash: string; bridge?: string; subnet?: string }>;
}

/**
 * Checks ./docker-compose.yml with the real Compose (`config -q`: the compose-spec schema, env
 * files, interpolation) and the env files against MailU's documented keys; returns each service's and
 * network's config hash.
 */
function loadProject(cwd: string, compose: string[]): Project {
  const file = path.join(cwd, "docker-compose.yml");
  const real = spawnSync(compose[0], [...compose.slice(1), "-f", file, "config", "-q"], { cwd, encoding: "utf8" });
  if (real.status !== 0)
    throw new ToolError((real.stderr || real.stdout || `${compose.join(" ")} config failed`).trim(), real.status ?? 15);
  const doc = parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  const problems: string[] = [];
  const services = (doc.services ?? {}) as Record<string, Record<string, unknown>>;
  const result: Record<string, { hash: string; image: string }> = {};
  for (const [name, svc] of Object.entries(services)) {
    const image = String(svc.image ?? "");
    if (image.startsWith("ghcr.io/mailu/") && !PINNED_MAILU_IMAGE.test(image))
      problems.push(`services.${name}.image ${image}: not an exact MailU 2024.06.N release`);
    else if (!image.includes(":") || image.endsWith(":latest")) problems.push(`services.${name}.image ${image}: no pinned tag`);
    let env = "";
    for (const f of ([] as unknown[]).concat(svc.env_file ?? [])) {
      const p = path.resolve(cwd, String(f));
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
  const networks: Record<string, { hash: string; bridge?: string; subnet?: string }> = {};
  const declared = (doc.networks ?? {}) as Record<string, Record<string, unknown> | null>;
  for (const [name, net] of Object.entries({ default: {} as Record<string, unknown> | null, ...declared })) {
    const opts = (net?.driver_opts ?? {}) as Record<string, string>;
    const subnet = ((net?.ipam as { config?: Array<{ subnet?: string }> } | undefined)?.config ?? [])[0]?.subnet;
    networks[name] = { hash: sha(JSON.stringify(net ?? {})), bridge: opts["com.docker.network.bridge.name"], subnet };
  }
  if (problems.length) throw new ToolError(`validating ${file}:\n${problems.map((p) => `  ${p}`).join("\n")}`, 15);
  return { services: result, networks };
}

/** What Docker does for a bridge network: a Linux bridge with the subnet's first address as gateway. */
function createBridge(name: string, subnet: string): void {
  const [base, bits] = subnet.split("/");
  const o = base.split(".").map(Number);
  const gateway = `${o[0]}.${o[1]}.${o[2]}.${o[3] + 1}/${bits}`;
  const ip = (...a: string[]) => spawnSync("ip", a, { encoding: "utf8" });
  if (ip("link", "show", name).status !== 0) ip("link", "add", name, "type", "bridge");
  ip("addr", "replace", gateway, "dev", name);
  ip("link", "set", name, "up");
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
    case "alias": {
      const [local, domain, destination] = positional;
      if (!destination) throw new ToolError("Error: Missing argument 'DESTINATION'.", 2);
      const email = `${local}@${domain}`;
      state.aliases ??= {};
      // 2024.06 manage.py `alias` adds without looking: a second one is a duplicate primary key.
      if (state.aliases[email]) throw new ToolError(`sqlalchemy.exc.IntegrityError: UNIQUE constraint failed: alias.email (${email})`, 1);
      state.aliases[email] = destination.split(",");
      if (!state.domains.includes(domain)) state.domains.push(domain);
      return args;
    }
    case "config-import": {
      // MailU 2024.06 docs/cli.rst "config-import": YAML or JSON from a file or stdin (`-`); without
      // -u/--update the import replaces the whole config, which the stack never asks for.
      if (!rest.includes("-u") && !rest.includes("--update"))
        throw new ToolError("the stand-in imports only with -u/--update (without it MailU replaces the whole config)", 2);
      configImport(state, fs.readFileSync(0, "utf8"));
      return args;
    }
    case "alias-delete": {
      const [email] = positional;
      if (!email) throw new ToolError("Error: Missing argument 'EMAIL'.", 2);
      if (state.aliases) delete state.aliases[email];
      return args;
    }
    default:
      throw new ToolError(`Error: No such command '${cmd}'.`, 2);
  }
}

/**
 * The `user` list of an import in update mode (MailU 2024.06 docs/cli.rst "config-import"): items
 * keyed by `email`; `password` with `hash_password: true` is plain and hashed by MailU; `- -email: x`
 * deletes x. A user needs an existing domain (models.py User.domain is a foreign key) and, when new,
 * a password (schemas.py UserSchema: `password` required). Atomic as MailU's (one transaction).
 */
function configImport(state: ComposeState, text: string): void {
  const doc = (parse(text) ?? {}) as { user?: Array<Record<string, unknown>> };
  const users = { ...state.users };
  for (const [i, item] of (doc.user ?? []).entries()) {
    if (typeof item["-email"] === "string") {
      delete users[item["-email"]];
      continue;
    }
    const email = String(item.email ?? "");
    const [local, domain] = email.split("@");
    if (!local || !domain) throw new ToolError(`Error: user[${i}].email: invalid email address`, 1);
    if (!state.domains.includes(domain)) throw new ToolError(`Error: user[${i}].email: domain ${domain} does not exist`, 1);
    const was = users[email];
    if (!was && typeof item.password !== "string") throw new ToolError(`Error: user[${i}].password: Missing data for required field.`, 1);
    if (typeof item.password === "string" && item.hash_password !== true)
      throw new ToolError(`Error: user[${i}].password: invalid password hash`, 1);
    users[email] = {
      passwordSha: typeof item.password === "string" ? sha(item.password) : was!.passwordSha,
      admin: was?.admin ?? false,
      quotaBytes: typeof item.quota_bytes === "number" ? item.quota_bytes : (was?.quotaBytes ?? 1_000_000_000),
      enabled: typeof item.enabled === "boolean" ? item.enabled : (was?.enabled ?? true),
    };
  }
  state.users = users;
}

/**
 * `docker exec -i <container> flask mailu …`, the way MailU's docs feed config-import its stdin;
 * the container id is what `compose ps -q` printed for a service of a project in this stand-in.
 */
function dockerExec(args: string[]): string[] {
  const a = args.filter((x) => x !== "-i" && x !== "--interactive");
  const [id, ...command] = a;
  for (const f of fs.existsSync(STATE_DIR) ? fs.readdirSync(STATE_DIR) : []) {
    const m = /^compose-(.+)\.json$/.exec(f);
    if (!m) continue;
    const project = m[1];
    const state = readState<ComposeState>(`compose-${project}`, emptyCompose());
    const service = Object.keys(state.services).find((name) => sha(`${project}-${name}`) === id);
    if (!service) continue;
    if (!state.services[service].running) throw new ToolError(`Error response from daemon: container ${id} is not running`, 1);
    if (service !== "admin" || command[0] !== "flask" || command[1] !== "mailu")
      throw new ToolError(`the stand-in runs only 'flask mailu' in admin, not '${command.join(" ")}'`, 126);
    const logged = ["exec", ...args.slice(0, args.length - command.length), "flask", "mailu", ...flaskMailu(state, command.slice(2))];
    writeState(`compose-${project}`, state);
    return logged;
  }
  throw new ToolError(`Error response from daemon: No such container: ${id ?? ""}`, 1);
}

function docker(args: string[], cwd: string): string[] {
  if (!fs.existsSync(REAL_DOCKER)) throw new ToolError("bash: docker: command not found", 127);
  if (args[0] === "exec") return dockerExec(args.slice(1));
  if (args[0] !== "compose")
    throw new ToolError(
      `the stand-in's docker (no daemon here) knows only 'docker compose' and 'docker exec', not '${args[0] ?? ""}'`,
      125,
    );
  if (!fs.existsSync(COMPOSE_PLUGIN)) throw new ToolError("docker: 'compose' is not a docker command.\nSee 'docker --help'", 1);
  // Run directly, Debian 13's plugin binary is Compose standalone (its args are compose's own: `docker-compose -p …`).
  return compose(args.slice(1), cwd, [COMPOSE_PLUGIN], (logged) => ["compose", ...logged]);
}

/** Compose v1, the `docker-compose` command Debian bookworm's docker-compose package installs. */
function dockerCompose(args: string[], cwd: string): string[] {
  if (!fs.existsSync(REAL_COMPOSE_V1)) throw new ToolError("bash: docker-compose: command not found", 127);
  return compose(args, cwd, [REAL_COMPOSE_V1], (logged) => logged);
}

// eslint-disable-next-line max-lines-per-function -- a stand-in for docker compose: one branch per subcommand, read as its command table
function compose(args: string[], cwd: string, real: string[], asLogged: (a: string[]) => string[]): string[] {
  const a = [...args];
  let project = path.basename(cwd);
  while (a[0]?.startsWith("-")) {
    const flag = a.shift()!;
    if (flag === "-p" || flag === "--project-name") project = a.shift() ?? "";
    else throw new ToolError(`unknown compose flag ${flag}`, 125);
  }
  const realWith = [...real, "-p", project];
  const state = readState<ComposeState>(`compose-${project}`, emptyCompose());
  const [sub, ...rest] = a;
  let logged = args;
  switch (sub) {
    case "config": {
      const r = spawnSync(realWith[0], [...realWith.slice(1), "config", ...rest], { cwd, encoding: "utf8" });
      process.stdout.write(r.stdout ?? "");
      if (r.status !== 0) throw new ToolError((r.stderr ?? "").trim(), r.status ?? 1);
      break;
    }
    case "up": {
      if (!rest.includes("-d") && !rest.includes("--detach")) throw new ToolError("the stand-in runs only 'up -d'", 1);
      const project_ = loadProject(cwd, realWith);
      const wanted = project_.services;
      state.networks ??= {};
      for (const [name, { hash, bridge, subnet }] of Object.entries(project_.networks)) {
        if (bridge && subnet) createBridge(bridge, subnet);
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
      loadProject(cwd, realWith);
      const names = rest.filter((r) => !r.startsWith("-"));
      for (const [name, s] of Object.entries(state.services))
        if (s.running && (!names.length || names.includes(name)))
          out(rest.includes("-q") ? sha(`${project}-${name}`) : `${project}-${name}-1  running`);
      break;
    }
    case "restart": {
      loadProject(cwd, realWith);
      for (const name of rest.filter((r) => !r.startsWith("-"))) {
        if (!state.services[name]?.running) throw new ToolError(`service "${name}" is not running`, 1);
        state.services[name].restarts++;
        err(` Container ${project}-${name}-1  Restarted`);
      }
      break;
    }
    case "exec": {
      loadProject(cwd, realWith);
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
  return asLogged(logged);
}

// ---- systemctl -------------------------------------------------------------------------------

function systemctl(args: string[]): string[] {
  const [sub, ...rest] = args;
  const units = rest.filter((u) => !u.startsWith("-"));
  const state = readState<{ enabled: string[]; reloads: number; restarted: string[]; reloaded: string[]; active?: string[] }>("systemd", {
    enabled: [],
    reloads: 0,
    restarted: [],
    reloaded: [],
  });
  state.restarted ??= [];
  state.reloaded ??= [];
  const exists = (unit: string) =>
    ["/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"].some((d) =>
      fs.existsSync(path.join(d, unit.includes(".") ? unit : `${unit}.service`)),
    );
  // A Postfix the test harness started: a reload reaches it as systemd's would (postfix.service: ExecReload=/usr/sbin/postfix reload).
  const postfixRunning = () => spawnSync("postfix", ["status"], { stdio: "ignore" }).status === 0;
  switch (sub) {
    case "daemon-reload":
      state.reloads++;
      break;
    case "enable":
      for (const unit of units) {
        if (!exists(unit)) throw new ToolError(`Failed to enable unit: Unit file ${unit} does not exist.`, 1);
        if (!state.enabled.includes(unit)) state.enabled.push(unit);
      }
      break;
    case "start":
      // A timer or service started now (systemctl(1) "start"); the stand-in runs nothing on schedule.
      for (const unit of units) {
        if (!exists(unit)) throw new ToolError(`Failed to start ${unit}: Unit ${unit} not found.`, 5);
        state.active = [...new Set([...(state.active ?? []), unit])];
      }
      break;
    case "restart":
    case "reload":
    case "reload-or-restart":
      for (const unit of units) {
        if (!exists(unit)) throw new ToolError(`Failed to ${sub} ${unit}.service: Unit ${unit}.service not found.`, 5);
        (sub === "restart" ? state.restarted : state.reloaded).push(unit);
        if (unit.startsWith("postfix") && postfixRunning()) execFileSync("postfix", ["reload"], { stdio: "inherit" });
      }
      break;
    default:
      throw new ToolError(`the stand-in's systemctl knows daemon-reload, enable, start, restart and reload, not '${sub ?? ""}'`, 1);
  }
  writeState("systemd", state);
  return args;
}

// ---- entry -----------------------------------------------------------------------------------

const TOOLS: Record<string, (args: string[], cwd: string) => string[]> = { docker, "docker-compose": dockerCompose, systemctl };

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
    if (e.message) err(e.message);
    code = e.code;
    // A failed call's arguments may hold a secret the parser never reached: log only the subcommand.
    logged = args.slice(0, 4);
  }
  fs.mkdirSync(path.dirname(CALLS_LOG), { recursive: true });
  fs.appendFileSync(CALLS_LOG, JSON.stringify({ tool, args: logged, cwd, code } satisfies ToolCall) + "\n");
  process.exit(code);
}

if (require.main === module) main();
