/**
 * The service's clones of the config repository (the one holding Pulumi.yaml and
 * `stacks/Pulumi.<tenant>.yaml`): git stays the source of truth for desired state, so every
 * request becomes a commit there, pushed before anything is applied. One clone per worker slot,
 * so tenants applied side by side never share a work tree. The program the engine runs is the
 * service's own build: each clone links this installation's `node_modules` and `dist`.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import { Document } from "yaml";
import { projectRoot } from "../scripts/lib/engine/pulumi-env";
import { FleetProject, fleetProject } from "../scripts/lib/stacks/tenants";
import { parseStackFile, setStackConfig, stackConfig, stackFileText } from "../scripts/lib/stacks/stack-file";

const run = promisify(execFile);

export const TENANT_KEY = "penguinmails-infra:tenant";

export interface ConfigRepoOptions {
  /** Where to clone from and push to (a URL or a path). */
  remote: string;
  branch: string;
  /** Folder holding one clone per slot. */
  dir: string;
  author?: { name: string; email: string };
}

export class ConfigRepo {
  constructor(readonly o: ConfigRepoOptions) {}

  private async git(dir: string, ...args: string[]): Promise<string> {
    try {
      return (await run("git", args, { cwd: dir, maxBuffer: 16 << 20 })).stdout.trim();
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`git ${args[0]} in ${dir}: ${(err.stderr || err.message).trim().split("\n").slice(-3).join(" ")}`);
    }
  }

  /**
   * The slot's clone, made on first use and reset to the remote branch. A clone whose `origin` is
   * not the configured remote (the service was started with another --config-repo) is made again.
   */
  async checkout(slot: number): Promise<FleetProject> {
    const dir = path.join(this.o.dir, `slot-${slot}`);
    if (fs.existsSync(path.join(dir, ".git")) && (await this.origin(dir)) !== this.o.remote)
      fs.rmSync(dir, { recursive: true, force: true });
    if (!fs.existsSync(path.join(dir, ".git"))) await this.clone(dir);
    await this.sync(dir);
    return fleetProject(dir);
  }

  private async origin(dir: string): Promise<string | undefined> {
    return this.git(dir, "remote", "get-url", "origin").catch(() => undefined);
  }

  private async clone(dir: string): Promise<void> {
    fs.mkdirSync(this.o.dir, { recursive: true });
    fs.rmSync(dir, { recursive: true, force: true });
    await run("git", ["clone", "-q", "--branch", this.o.branch, "--", this.o.remote, dir]);
    const a = this.o.author ?? { name: "penguinmails service", email: "service@penguinmails.invalid" };
    await this.git(dir, "config", "user.name", a.name);
    await this.git(dir, "config", "user.email", a.email);
    for (const link of ["node_modules", "dist"]) {
      const at = path.join(dir, link);
      if (!fs.existsSync(at)) fs.symlinkSync(path.join(projectRoot, link), at);
    }
    fs.appendFileSync(path.join(dir, ".git", "info", "exclude"), "/node_modules\n/dist\n/.pulumi-dev/\n");
  }

  private async sync(dir: string): Promise<void> {
    await this.git(dir, "fetch", "-q", "origin", this.o.branch);
    await this.git(dir, "reset", "-q", "--hard", `origin/${this.o.branch}`);
    await this.git(dir, "clean", "-fdq");
  }

  private file(p: FleetProject, tenant: string) {
    return path.join(p.root, p.stacksDir, `Pulumi.${tenant}.yaml`);
  }

  hasTenant(p: FleetProject, tenant: string): boolean {
    return fs.existsSync(this.file(p, tenant));
  }

  /**
   * The whole stack config file (a yaml Document: its comments and order are kept on edit) and its
   * tenant object; a tenant being onboarded has no file yet (or only what \`stack init\` wrote).
   */
  readTenant(p: FleetProject, tenant: string): { doc: Document; tenant: unknown } {
    const file = this.file(p, tenant);
    const doc = parseStackFile(fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "{}\n", file);
    return { doc, tenant: stackConfig(doc)[TENANT_KEY] };
  }

  /**
   * Whether this commit is on the remote branch. A request's commit is known by the sha the
   * service recorded for it before pushing, never by searching messages (a caller's text is in them).
   */
  async onBranch(p: FleetProject, sha: string): Promise<boolean> {
    if (!/^[0-9a-f]{40}$/.test(sha)) return false;
    return this.git(p.root, "merge-base", "--is-ancestor", sha, `origin/${this.o.branch}`).then(
      () => true,
      () => false,
    );
  }

  /**
   * Commits `change` (the tenant object before → after) and pushes it. When the push is refused
   * because the branch moved, the change is made again on the new tip and pushed again: what the
   * request asks is judged against what is on the branch, never against a stale copy.
   */
  async commitTenant(
    p: FleetProject,
    tenant: string,
    change: (tenantBefore: unknown) => unknown,
    message: string,
    beforePush: (sha: string) => Promise<void>,
    attempts = 6,
  ): Promise<string> {
    const file = this.file(p, tenant);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // A new tenant's file holds what `stack init` wrote (its secrets provider, its salt): kept across a re-sync.
    const tracked = await this.git(p.root, "ls-files", "--", file).then((out) => out !== "");
    const untracked = !tracked && fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
    const stage = async () => {
      if (untracked !== undefined && !fs.existsSync(file)) fs.writeFileSync(file, untracked);
      const { doc, tenant: before } = this.readTenant(p, tenant);
      setStackConfig(doc, TENANT_KEY, change(before));
      fs.writeFileSync(file, stackFileText(doc));
      await this.git(p.root, "add", "--", file);
      return true;
    };
    return this.commitAndPush(p, stage, message, beforePush, attempts, `the change to ${tenant}`);
  }

  /** Removes the tenant's stack config file by a commit (offboarding), pushed like a change. */
  async removeTenant(
    p: FleetProject,
    tenant: string,
    message: string,
    beforePush: (sha: string) => Promise<void>,
    attempts = 6,
  ): Promise<string> {
    const file = this.file(p, tenant);
    const stage = async () => {
      // Tracked on the branch, whether or not the file is still there (`stack rm` deletes it from the work tree).
      if ((await this.git(p.root, "ls-files", "--", file)) === "") return false;
      await this.git(p.root, "rm", "-q", "--cached", "--", file);
      fs.rmSync(file, { force: true });
      return true;
    };
    return this.commitAndPush(p, stage, message, beforePush, attempts, `the removal of ${tenant}`);
  }

  /**
   * The one commit-and-push loop: `stage` puts the change in the index (false: nothing to change,
   * the branch's tip is the answer), the commit's sha goes to `beforePush` (the request's row)
   * before the push, and a push refused because the branch moved is tried again on the new tip
   * after a short, jittered back-off, as many as `attempts` times.
   */
  private async commitAndPush(
    p: FleetProject,
    stage: () => Promise<boolean>,
    message: string,
    beforePush: (sha: string) => Promise<void>,
    attempts: number,
    what: string,
  ): Promise<string> {
    for (let i = 1; ; i++) {
      if (!(await stage())) return this.git(p.root, "rev-parse", "HEAD");
      await this.git(p.root, "commit", "-qm", message);
      const sha = await this.git(p.root, "rev-parse", "HEAD");
      await beforePush(sha);
      try {
        await this.git(p.root, "push", "-q", "origin", `HEAD:${this.o.branch}`);
        return sha;
      } catch (e) {
        if (i >= attempts) throw new Error(`could not push ${what} after ${attempts} tries: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 100 * i + Math.random() * 200));
        await this.sync(p.root);
      }
    }
  }

  /** Reverts a pushed commit (a change the engine refused), naming the request. */
  async revert(p: FleetProject, sha: string, message: string, beforePush: (sha: string) => Promise<void>, attempts = 6): Promise<string> {
    const stage = async () => {
      await this.git(p.root, "revert", "--no-commit", sha);
      return true;
    };
    return this.commitAndPush(p, stage, message, beforePush, attempts, `the revert of ${sha.slice(0, 10)}`);
  }
}
