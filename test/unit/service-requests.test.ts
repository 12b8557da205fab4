/**
 * The service's requests as config changes (no engine, no Postgres): what each kind does to the
 * tenant, what is refused and why (the policy pack's own messages), and the config repository's
 * push that is refused because the branch moved, made again on the new tip.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { parseTenant } from "../../providers/model/tenant";
import { defaultPriceBook } from "../../providers/hostwinds/catalog";
import { changeTenant, judgeTenant } from "../../service/requests";
import { ConfigRepo, TENANT_KEY } from "../../service/config-repo";
import { sign, verifySignature } from "../../service/webhooks";
import { WEBHOOK_ATTEMPTS } from "../../service/lifecycle";
import { ips, raw, refused, tenant } from "../fixtures/service-tenant";

const base = tenant;

/** A config repository as the service finds it: a bare remote and a person's clone of it that pushed
 *  `Pulumi.yaml` and a stack file per tenant (`tenants`, one commit). */
function configRemote(dir: string, name: string, tenants: Record<string, object>) {
  const remote = path.join(dir, `${name}.git`);
  const work = path.join(dir, `${name}-work`);
  const git = (...args: string[]) => execFileSync("git", args, { cwd: work, encoding: "utf8" }).trim();
  execFileSync("git", ["init", "-q", "--bare", "-b", "main", remote]);
  fs.mkdirSync(path.join(work, "stacks"), { recursive: true });
  git("init", "-q", "-b", "main");
  git("config", "user.email", "t@test.invalid");
  git("config", "user.name", "t");
  fs.writeFileSync(path.join(work, "Pulumi.yaml"), `name: ${name}\nruntime: nodejs\nstackConfigDir: stacks\n`);
  const file = (t: string) => path.join(work, "stacks", `Pulumi.${t}.yaml`);
  for (const [t, config] of Object.entries(tenants)) fs.writeFileSync(file(t), stringify({ config: { [TENANT_KEY]: config } }));
  git("add", "-A");
  git("commit", "-qm", Object.keys(tenants).length ? "tenants" : name);
  git("remote", "add", "origin", remote);
  git("push", "-q", "origin", "main");
  const remoteGit = (...args: string[]) => execFileSync("git", ["--git-dir", remote, ...args], { encoding: "utf8" }).trim();
  return {
    remote,
    work,
    git,
    file,
    log: () => remoteGit("log", "main", "--format=%s").split("\n"),
    tip: () => remoteGit("rev-parse", "main"),
  };
}

describe("service requests", () => {
  test("each kind is the one change a person would make", () => {
    expect(changeTenant(base, "acquire_ips", { server: "mx1", count: 1 }, ips).servers[0].sendingIps).toBe(3);
    expect(changeTenant(base, "add_standby", { server: "mx1" }, ips).servers[0].standbyIps).toBe(2);
    expect(changeTenant(base, "pause_ip", { ip: "198.51.0.10" }, ips).servers[0].pausedIps).toEqual(["198.51.0.10"]);
    expect(changeTenant(base, "retire_ip", { ip: "198.51.0.10" }, ips).servers[0].retireIps).toEqual(["198.51.0.10"]);
    expect(changeTenant(base, "release_ip", { ip: "198.51.0.11" }, ips).servers[0].sendingIps).toBe(1);
    expect(changeTenant(base, "release_ip", { ip: "198.51.0.12" }, ips).servers[0].standbyIps).toBe(0);
    expect(
      changeTenant(base, "add_server", { name: "mx2", location: 1, plan: 101, sendingIps: 1 }, ips).servers.map((s) => s.name),
    ).toEqual(["mx1", "mx2"]);
    expect(changeTenant(base, "change_plan", { server: "mx1", plan: 102 }, ips).servers[0].plan).toBe(102);
    expect(base.servers[0].sendingIps).toBe(2); // the input is not changed
    const two = changeTenant(base, "add_domain", { name: "tryacme.io", dmarcPolicy: "reject" }, ips);
    expect(two.domains.map((d) => [d.name, d.dmarcPolicy, d.dkimSelector])).toEqual([
      ["acme-mail.com", "none", "pm1"],
      ["tryacme.io", "reject", "pm1"],
    ]);
    expect(changeTenant(two, "remove_domain", { domain: "tryacme.io" }, ips).domains.map((d) => d.name)).toEqual(["acme-mail.com"]);
  });

  test("what cannot be done is refused with a reason naming the tenant and what to do", () => {
    expect(refused(() => changeTenant(base, "remove_domain", { domain: "acme-mail.com" }, ips))).toMatch(
      /acme-mail.com is the first domain of tenant acme: the servers' host names \(mx1.acme-mail.com\) live under it/,
    );
    expect(refused(() => changeTenant(base, "add_domain", { name: "acme-mail.com" }, ips))).toBe(
      "tenant acme has the domain acme-mail.com already",
    );
    expect(refused(() => changeTenant(base, "change_plan", { server: "mx1", plan: base.servers[0].plan }, ips))).toBe(
      `server mx1 of tenant acme is on plan ${base.servers[0].plan} already`,
    );
    expect(refused(() => changeTenant(base, "acquire_ips", { server: "mx9", count: 1 }, ips))).toBe(
      "tenant acme has no server mx9 (it has mx1)",
    );
    expect(refused(() => changeTenant(base, "release_ip", { ip: "198.51.0.10" }, ips))).toMatch(
      /slot 1 of 2 on server mx1; only the last slot \(198\.51\.0\.11\) can be released/,
    );
    expect(refused(() => changeTenant(base, "pause_ip", { ip: "198.51.0.12" }, ips))).toMatch(
      /is a standby IP; only a sending IP can be paused/,
    );
    const paused = changeTenant(base, "pause_ip", { ip: "198.51.0.10" }, ips);
    expect(refused(() => changeTenant(paused, "pause_ip", { ip: "198.51.0.11" }, ips))).toMatch(
      /has no free standby IP .* add a standby first/,
    );
    expect(refused(() => changeTenant(base, "retire_ip", { ip: "203.0.113.1" }, ips))).toMatch(/tenant acme has no IP 203\.0\.113\.1/);
    // the budget and the tier, in the policy pack's words
    const tight = parseTenant("acme", { ...raw, monthlyBudgetUsd: 20 }, defaultPriceBook());
    expect(refused(() => judgeTenant("acme", changeTenant(tight, "acquire_ips", { server: "mx1", count: 1 }, ips)))).toBe(
      "tenant acme (growth): the config costs $24.95/month, over the budget of $20.00/month by $4.95; remove servers or IPs, or raise monthlyBudgetUsd",
    );
    const rich = parseTenant("acme", { ...raw, monthlyBudgetUsd: 500 }, defaultPriceBook());
    expect(refused(() => judgeTenant("acme", changeTenant(rich, "acquire_ips", { server: "mx1", count: 2 }, ips)))).toBe(
      "tenant acme (growth): server mx1 has 5 sending IPs, the growth tier allows 4 per server; spread them over more servers",
    );
  });

  test("webhook signatures: valid for the body and secret, not for another body, secret or an old timestamp", () => {
    const body = '{"event":"request.status"}';
    const header = sign("s3cret", body);
    expect(verifySignature("s3cret", body, header)).toBe(true);
    expect(verifySignature("s3cret", `${body} `, header)).toBe(false);
    expect(verifySignature("other", body, header)).toBe(false);
    expect(verifySignature("s3cret", body, sign("s3cret", body, Math.floor(Date.now() / 1000) - 3600))).toBe(false);
  });

  test("an undelivered webhook is tried for at least 3 days (graphile-worker's back-off over WEBHOOK_ATTEMPTS tries)", () => {
    // The queue's library waits exp(min(attempts, 10)) seconds after each failed try (its failJobs SQL).
    const sql = fs.readFileSync(require.resolve("graphile-worker/dist/sql/failJobs.js"), "utf8");
    expect(sql).toContain("exp(least(attempts, 10))");
    let seconds = 0;
    for (let attempt = 1; attempt < WEBHOOK_ATTEMPTS; attempt++) seconds += Math.exp(Math.min(attempt, 10));
    expect(seconds / 86_400).toBeGreaterThanOrEqual(3);
  });

  test("a push refused because main moved is made again on the new tip", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "service-repo-"));
    try {
      const { remote, git, file, log, tip } = configRemote(dir, "config", { acme: raw, globex: { ...raw, id: "globex" } });

      const repo = new ConfigRepo({ remote, branch: "main", dir: path.join(dir, "clones") });
      const p = await repo.checkout(0);
      let calls = 0;
      const recorded: string[] = [];
      const sha = await repo.commitTenant(
        p,
        "acme",
        (before) => {
          calls++;
          if (calls === 1) {
            // a person merges a change to another tenant while the service works
            fs.writeFileSync(file("globex"), stringify({ config: { [TENANT_KEY]: { ...raw, id: "globex", monthlyBudgetUsd: 30 } } }));
            git("commit", "-qam", "globex: budget 30");
            git("push", "-q", "origin", "main");
          }
          return { ...(before as object), monthlyBudgetUsd: 40 };
        },
        "service: raise budget\n\nRequest: 00000000-0000-0000-0000-000000000001",
        async (pending) => void recorded.push(pending),
      );
      expect(calls).toBe(2);
      expect(log()).toEqual(["service: raise budget", "globex: budget 30", "tenants"]);
      expect(tip()).toBe(sha);
      // the sha recorded before each push: the last one is what reached the branch, the first did not
      expect(recorded).toHaveLength(2);
      expect(recorded[1]).toBe(sha);
      const p2 = await repo.checkout(0);
      expect(await repo.onBranch(p2, recorded[1])).toBe(true);
      expect(await repo.onBranch(p2, recorded[0])).toBe(false);
      expect(await repo.onBranch(p2, "not-a-sha")).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a removal and a revert whose push is refused because main moved are made again on the new tip, like a change", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "service-remove-"));
    try {
      const { remote, git, file, log, tip } = configRemote(dir, "config", { acme: raw, globex: { ...raw, id: "globex" } });
      const personPushes = (msg: string) => {
        git("pull", "-q", "--rebase", "origin", "main");
        fs.appendFileSync(file("globex"), `# ${msg}\n`);
        git("commit", "-qam", msg);
        git("push", "-q", "origin", "main");
      };

      const repo = new ConfigRepo({ remote, branch: "main", dir: path.join(dir, "clones") });
      let p = await repo.checkout(0);
      const recorded: string[] = [];
      const removed = await repo.removeTenant(p, "acme", "service: offboard acme", async (pending) => {
        recorded.push(pending);
        if (recorded.length === 1) personPushes("globex: a note");
      });
      expect(log()).toEqual(["service: offboard acme", "globex: a note", "tenants"]);
      expect(removed).toBe(tip());
      expect(recorded).toEqual([expect.any(String), removed]);
      p = await repo.checkout(0);
      expect(repo.hasTenant(p, "acme")).toBe(false);
      // removed already: no commit, the branch's tip is the answer
      expect(await repo.removeTenant(p, "acme", "again", async () => undefined)).toBe(removed);
      expect(log()).toHaveLength(3);

      const reverted: string[] = [];
      const revert = await repo.revert(p, removed, "service: revert the offboarding", async (pending) => {
        reverted.push(pending);
        if (reverted.length === 1) personPushes("globex: another note");
      });
      expect(log()).toEqual([
        "service: revert the offboarding",
        "globex: another note",
        "service: offboard acme",
        "globex: a note",
        "tenants",
      ]);
      expect(revert).toBe(tip());
      expect(reverted).toHaveLength(2);
      expect(repo.hasTenant(await repo.checkout(0), "acme")).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a clone of another remote (the service restarted with a changed --config-repo) is made again, never pushed to", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "service-origin-"));
    try {
      const make = (name: string) => configRemote(dir, name, {}).remote;
      const old = make("old");
      const fresh = make("fresh");
      const clones = path.join(dir, "clones");
      const p1 = await new ConfigRepo({ remote: old, branch: "main", dir: clones }).checkout(0);
      expect(fs.readFileSync(path.join(p1.root, "Pulumi.yaml"), "utf8")).toMatch(/name: old/);
      const p2 = await new ConfigRepo({ remote: fresh, branch: "main", dir: clones }).checkout(0);
      expect(fs.readFileSync(path.join(p2.root, "Pulumi.yaml"), "utf8")).toMatch(/name: fresh/);
      expect(execFileSync("git", ["remote", "get-url", "origin"], { cwd: p2.root, encoding: "utf8" }).trim()).toBe(fresh);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
