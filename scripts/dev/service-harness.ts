/**
 * The provisioning service as tests, the demo and the benchmarks run it: a config repository
 * (a bare git repo with the project's Pulumi.yaml and one stack file per tenant), and the service
 * as its own process (`dist/service/main.js`, in its own process group so a test can kill
 * it and every engine it started at once, as a machine that dies would).
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as path from "path";
import { parse, stringify } from "yaml";
import { devDir, projectRoot } from "../lib/engine/pulumi-env";
import { HostwindsSim } from "./standins/hostwinds";
import { CloudflareSim } from "./standins/cloudflare";
import { PrivatePostgres, startPrivatePostgres } from "./postgres";
import { descendants } from "./processes";
import { standinEnv } from "./standins/env";
import type { SshHostSim } from "./standins/ssh-host";
import { verifySignature } from "../../service/webhooks";

export interface ConfigRepoFixture {
  /** The bare repository the service clones and pushes to. */
  remote: string;
  /** A work tree of it for reading the history and pushing "human" changes. */
  work: string;
  git(...args: string[]): string;
  /** Writes a tenant's stack file in the work tree, commits and pushes it. */
  putTenant(tenant: Record<string, unknown> & { id: string }, message?: string): void;
  readTenant(id: string): Record<string, unknown>;
}

export function makeConfigRepo(
  dir: string,
  tenants: Array<Record<string, unknown> & { id: string }>,
  o: { installMailu?: boolean } = {},
): ConfigRepoFixture {
  fs.rmSync(dir, { recursive: true, force: true });
  const remote = path.join(dir, "config.git");
  const work = path.join(dir, "work");
  fs.mkdirSync(work, { recursive: true });
  execFileSync("git", ["init", "-q", "--bare", "-b", "main", remote]);
  const git = (...args: string[]) => execFileSync("git", args, { cwd: work, encoding: "utf8" }).trim();
  git("init", "-q", "-b", "main");
  git("config", "user.email", "platform-team@test.invalid");
  git("config", "user.name", "platform team");
  git("remote", "add", "origin", remote);
  fs.copyFileSync(path.join(projectRoot, "Pulumi.yaml"), path.join(work, "Pulumi.yaml"));
  fs.writeFileSync(path.join(work, ".gitignore"), "node_modules\ndist\n");
  fs.mkdirSync(path.join(work, "stacks"));
  const file = (id: string) => path.join(work, "stacks", `Pulumi.${id}.yaml`);
  const write = (t: Record<string, unknown>) =>
    fs.writeFileSync(
      file(String(t.id)),
      stringify({ config: { "penguinmails-infra:installMailu": o.installMailu ?? false, "penguinmails-infra:tenant": t } }),
    );
  for (const t of tenants) write(t);
  git("add", "-A");
  git("commit", "-qm", "tenants");
  git("push", "-q", "origin", "main");
  return {
    remote,
    work,
    git,
    putTenant(t, message = `change ${t.id}`) {
      git("pull", "-q", "--rebase", "origin", "main");
      write(t);
      git("commit", "-qam", message);
      git("push", "-q", "origin", "main");
    },
    readTenant(id) {
      git("pull", "-q", "--rebase", "origin", "main");
      return (parse(fs.readFileSync(file(id), "utf8")) as { config: Record<string, Record<string, unknown>> }).config[
        "penguinmails-infra:tenant"
      ];
    },
  };
}

export interface ServiceProcess {
  url: string;
  proc: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /**
   * SIGKILL to the service and every process under it, as a machine that dies would: the engine's
   * plugins run in process groups of their own, so the tree is walked rather than the group killed.
   */
  crash(): Promise<void>;
  /** SIGTERM and wait for it to end. */
  stop(): Promise<void>;
}

/** Runs `service.js` with these arguments and environment; resolves once it listens. */
export function startServiceProcess(args: string[], env: Record<string, string>, onLine?: (line: string) => void): Promise<ServiceProcess> {
  const proc = spawn(process.execPath, [path.join(projectRoot, "dist/service/main.js"), "serve", "--listen", "127.0.0.1:0", ...args], {
    env: { ...process.env, ...env },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const exited = new Promise<void>((r) => proc.on("exit", () => r()));
  return new Promise((resolve, reject) => {
    const take = (d: Buffer) => {
      const text = d.toString();
      out += text;
      for (const l of text.split("\n").filter(Boolean)) onLine?.(l);
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (m)
        resolve({
          url: m[1],
          proc,
          output: () => out,
          async crash() {
            const signal = (pids: number[], sig: NodeJS.Signals) => {
              for (const pid of pids) {
                try {
                  process.kill(pid, sig);
                } catch {
                  // already gone
                }
              }
            };
            // Freeze the tree first so nothing in it starts a process while it is being killed.
            const first = [proc.pid!, ...descendants(proc.pid!)];
            signal(first, "SIGSTOP");
            signal([...new Set([...first, ...descendants(proc.pid!)])], "SIGKILL");
            await exited;
          },
          async stop() {
            proc.kill("SIGTERM");
            await exited;
          },
        });
    };
    proc.stdout!.on("data", take);
    proc.stderr!.on("data", take);
    proc.on("exit", (code) => reject(new Error(`the service exited (${code}) before listening:\n${out}`)));
  });
}

export interface ServiceEnvironment {
  pg: PrivatePostgres;
  sim: HostwindsSim;
  cf: CloudflareSim;
  repo: ConfigRepoFixture;
  service: ServiceProcess;
  /** A token for every tenant. */
  token: string;
  /** Stops the service and starts it again on the same database, repository and stand-ins, with `more` arguments. */
  restart(more?: string[]): Promise<void>;
  hostwindsKey: string;
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Polls a request until it ends; `onStatus` sees each status once, as it happens. */
  settle(id: string, onStatus?: (status: string, row: ServiceRequest) => void, timeoutMs?: number): Promise<ServiceRequest>;
  stop(): Promise<void>;
}

export interface ServiceRequest {
  id: string;
  tenant: string;
  kind: string;
  status: string;
  failureReason: string | null;
  commit: string | null;
  result: { bought: Array<{ ip: string; ptr?: string }>; released: string[]; nowSending?: string[]; monthlyCostUsd?: number } | null;
  events?: Array<{ status: string; at: string }>;
}

/**
 * Postgres, the Hostwinds and Cloudflare stand-ins, a config repository holding `tenants`, and the
 * service on them (for the demo and the benchmarks; the engine test builds the same by hand).
 */
// eslint-disable-next-line max-lines-per-function -- a dev-only setup list (postgres, stand-ins, config repo, service) in start order
export async function startServiceEnvironment(o: {
  name: string;
  tenants: Array<Record<string, unknown> & { id: string; zone: string }>;
  buildMs?: number;
  ipDelayMs?: number;
  concurrency?: number;
  /** The Cloudflare stand-in's requests per 5 minutes per token (default Cloudflare's 1,200; 0 = no limit). */
  cloudflareRateLimit?: number;
  /** More `serve` options (a webhook URL, resolvers), given the stand-ins once they listen. */
  args?: (sim: HostwindsSim, cf: CloudflareSim) => string[];
  /** More environment for the service (PENGUINMAILS_WEBHOOK_SECRET). */
  env?: Record<string, string>;
  /** SSH-host stand-ins for the servers: MailU is installed on them (without: no MailU, installMailu false). */
  hosts?: SshHostSim;
}): Promise<ServiceEnvironment> {
  const key = `${o.name}-hostwinds-key-0123456789`;
  const cfToken = `${o.name}-cf-token-0123456789`;
  const backend = `${o.name}-${process.pid}`;
  const dir = path.join(devDir, "work", backend);
  const pg = await startPrivatePostgres(o.name);
  const sim = await new HostwindsSim({ apiKeys: [key], buildMs: o.buildMs ?? 200, ipDelayMs: o.ipDelayMs ?? 300, hosts: o.hosts }).start();
  const cf = await new CloudflareSim({ tokens: { [cfToken]: ["*"] }, rateLimit: o.cloudflareRateLimit }).start();
  for (const t of o.tenants) cf.addZone(t.zone);
  const repo = makeConfigRepo(path.join(dir, "repo"), o.tenants, { installMailu: !!o.hosts });
  const env = standinEnv(sim, key, cf, cfToken);
  const token = execFileSync(
    process.execPath,
    [path.join(projectRoot, "dist/service/main.js"), "token", "--database", pg.url, "--caller", "platform", "--tenants", "*"],
    { encoding: "utf8" },
  ).trim();
  const args = [
    "--database",
    pg.url,
    "--config-repo",
    repo.remote,
    "--clones",
    path.join(dir, "clones"),
    "--local-backend",
    backend,
    "--concurrency",
    String(o.concurrency ?? 2),
    "--monitor-every",
    "0",
    // The stand-in servers have no MailU: a domain's verification judges its MTA-STS TXT only.
    "--no-mta-sts",
    ...(o.args?.(sim, cf) ?? []),
  ];
  let service = await startServiceProcess(args, { ...env, ...o.env });
  const api = async <T>(method: string, p: string, body?: unknown) => {
    const res = await fetch(`${service.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  return {
    pg,
    sim,
    cf,
    repo,
    get service() {
      return service;
    },
    async restart(more = []) {
      await service.stop();
      service = await startServiceProcess([...args, ...more], { ...env, ...o.env });
    },
    token,
    hostwindsKey: key,
    api,
    async settle(id, onStatus, timeoutMs = 30 * 60_000) {
      const seen = new Set<string>();
      const until = Date.now() + timeoutMs;
      for (;;) {
        const r = (await api<ServiceRequest>("GET", `/requests/${id}`)).body;
        for (const e of r.events ?? [])
          if (!seen.has(e.status)) {
            seen.add(e.status);
            onStatus?.(e.status, r);
          }
        if (["assigned", "released", "rejected", "failed"].includes(r.status)) return r;
        if (Date.now() > until) throw new Error(`request ${id} still ${r.status} after ${timeoutMs / 1000} s`);
        await new Promise((res) => setTimeout(res, 200));
      }
    },
    async stop() {
      await service.stop().catch(() => undefined);
      await pg.stop();
      await sim.stop();
      await cf.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(path.join(devDir, "backends", backend), { recursive: true, force: true });
    },
  };
}

/** The platform's side of the webhooks: a receiver on loopback keeping every event whose signature checks. */
export interface WebhookReceiver {
  /** What to give the service as --webhook-url. */
  url: string;
  /** The events received with a valid signature, in arrival order. */
  hooks: Array<Record<string, unknown>>;
  close(): void;
}

export async function startWebhookReceiver(secret: string): Promise<WebhookReceiver> {
  const hooks: Array<Record<string, unknown>> = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d));
    req.on("end", () => {
      if (verifySignature(secret, body, req.headers["x-penguinmails-signature"] as string)) hooks.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, hooks, close: () => server.close() };
}
