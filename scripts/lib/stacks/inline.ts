/**
 * The tenant program as an Automation API inline program: run inside this process instead of a
 * new Node process per engine run, so `@pulumi/pulumi` and the program's modules load once per
 * process, not once per tenant. The Automation API serves the program itself (Stack.preview/up
 * start a gRPC language server in this process, `LanguageServer` in
 * @pulumi/pulumi automation/server.js, and pass its address to the CLI with `--client`): no
 * language host and no program process is started for it.
 *
 * What the SDK keeps per run and what it does not (3.276): the run's settings (project, stack,
 * engine and monitor addresses), config and stack resource live in an AsyncLocalStorage store
 * that `LanguageServer.run` opens per run (runtime/state.js `withLocalStorage`), so two runs in
 * one process do not see each other's config. But its uncaught-error handlers are installed on
 * `process` for the run, and the program reads `process.env` (credentials, secrets settings,
 * PULUMI_BACKEND_URL for the owner tags) and its working folder: both process-wide. So a process
 * runs one tenant at a time, with `process.env` and the working folder set as the CLI would give
 * its program process (the workspace's variables over this process's), and put back after.
 *
 * Nor does it close a run's two gRPC clients (3.276): in a run's store, runtime/settings.js
 * getMonitor and getEngine make the resource monitor and engine clients the store's own, but
 * disconnectSync closes only the process-wide ones, which an inline run never makes. So each run
 * left two channels open on ports gone with its CLI, each with a 30-minute idle timer and a
 * never-firing interval that keep the channel and what its calls reached: a worker's heap grew
 * ~0.5 MiB per tenant (heap snapshots after 15 and 45 tenants, scripts/dev/heap-diff.ts: 90
 * channels, 12.5 of the 14.5 MiB of new objects held by those timers). The program notes the
 * run's two clients (runClients) and withProgramEnv closes them once the run is over.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { PulumiFn } from "@pulumi/pulumi/automation";
import { projectRoot } from "../engine/pulumi-env";
import { FleetProject } from "./tenants";

/** The gRPC clients of the inline run now under way (one run at a time per process): closed when it is over. */
const runClients = new Set<{ close?: () => void }>();

/** Closes the clients the finished run made (a client already closed closes again harmlessly). */
function closeRunClients(): void {
  for (const c of runClients) {
    try {
      c.close?.();
    } catch {
      // Closing is best effort: the CLI it talked to is gone.
    }
  }
  runClients.clear();
}

/** Set in a process that runs tenant programs inline: components/stop-run.ts then throws instead of exiting. */
export const INLINE_PROGRAM_ENV = "PENGUINMAILS_INLINE_PROGRAM";

/** The program file Pulumi.yaml's `main` names (default the project folder), as the language host resolves it. */
export function programPath(p: FleetProject): string {
  const yaml = fs.readFileSync(path.join(p.root, "Pulumi.yaml"), "utf8");
  const main = /^main:\s*(\S+)\s*$/m.exec(yaml)?.[1] ?? ".";
  return require.resolve(path.resolve(p.root, main));
}

/** What the language host loads first into a program's process (scripts/toolchain/language-nodejs/main.go). */
const PRELOAD = path.join(projectRoot, "scripts", "toolchain", "language-nodejs", "javascript-only.js");

/**
 * The project's program as an inline program: the module is loaded on the first run (and kept,
 * as Node keeps every module), and its export called per run as the language host's runner does
 * (a function's result is the stack outputs). It must load the same `@pulumi/pulumi` as the
 * Automation API here, or its resources would register with a runtime no run set up.
 */
export function tenantProgram(p: FleetProject): PulumiFn {
  // No stack trace per resource, as in a CLI program's process (the language host's preload, item 7).
  (require(PRELOAD) as { skipResourceStackTraces(env: NodeJS.ProcessEnv): void }).skipResourceStackTraces(process.env);
  const file = programPath(p);
  const ours = require.resolve("@pulumi/pulumi");
  const theirs = require.resolve("@pulumi/pulumi", { paths: [path.dirname(file)] });
  if (ours !== theirs)
    throw new Error(
      `the program ${file} loads ${theirs}, but the engine worker runs ${ours}: an inline program needs the same @pulumi/pulumi; run it with the CLI program instead (without --inline)`,
    );
  return async () => {
    // In the run's store (the SDK calls the program inside it): its own monitor and engine clients, made here if not yet.
    for (const c of [pulumi.runtime.getMonitor(), pulumi.runtime.getEngine()]) if (c) runClients.add(c as { close?: () => void });
    const exported = require(file) as unknown;
    const run = typeof exported === "function" ? exported : (exported as { default?: unknown }).default;
    if (typeof run !== "function") return exported as Record<string, unknown>;
    return (await (run as () => unknown)()) as Record<string, unknown>;
  };
}

let running: string | undefined;

/**
 * Runs `fn` (one engine operation with the inline program) with `process.env` and the working
 * folder as the CLI path's program process would have them, and puts both back after. One at a
 * time per process: a second call while one runs is refused (the caller's pool gives each slot
 * its own process).
 */
export async function withProgramEnv<T>(tenant: string, vars: Record<string, string>, cwd: string, fn: () => Promise<T>): Promise<T> {
  if (running)
    throw new Error(
      `tenant ${tenant}: this process is already running tenant ${running}'s program inline; run one tenant at a time per process`,
    );
  running = tenant;
  const saved = { ...process.env };
  const savedCwd = process.cwd();
  Object.assign(process.env, vars, { [INLINE_PROGRAM_ENV]: "1" });
  process.chdir(cwd);
  try {
    return await fn();
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    process.chdir(savedCwd);
    closeRunClients();
    running = undefined;
  }
}
