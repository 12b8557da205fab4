/**
 * The provisioning service as tests, the demo and the benchmarks run it: a config repository
 * (a bare git repo with the project's Pulumi.yaml and one stack file per tenant), and the service
 * as its own process (`dist/scripts/cli/service.js`, in its own process group so a test can kill
 * it and every engine it started at once, as a machine that dies would).
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { dump } from "js-yaml";
import { projectRoot } from "../cli/engine/pulumi-env";

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

export function makeConfigRepo(dir: string, tenants: Array<Record<string, unknown> & { id: string }>): ConfigRepoFixture {
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
    fs.writeFileSync(file(String(t.id)), dump({ config: { "penguinmails-infra:installMailu": false, "penguinmails-infra:tenant": t } }));
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
      const { load } = require("js-yaml") as typeof import("js-yaml");
      return (load(fs.readFileSync(file(id), "utf8")) as { config: Record<string, Record<string, unknown>> }).config[
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
  /** SIGKILL to the whole process group: the service and every engine process it started. */
  crash(): Promise<void>;
  /** SIGTERM and wait for it to end. */
  stop(): Promise<void>;
}

/** Runs `service.js` with these arguments and environment; resolves once it listens. */
export function startServiceProcess(args: string[], env: Record<string, string>, onLine?: (line: string) => void): Promise<ServiceProcess> {
  const proc = spawn(
    process.execPath,
    [path.join(projectRoot, "dist/scripts/cli/service.js"), "serve", "--listen", "127.0.0.1:0", ...args],
    {
      env: { ...process.env, ...env },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
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
            try {
              process.kill(-proc.pid!, "SIGKILL");
            } catch {
              // already gone
            }
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
