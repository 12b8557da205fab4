/**
 * Sending domains each in their own Cloudflare zone (issue 25 item 1), through the real engine:
 * a stack made by the code before domains had zones of their own previews under this code with no
 * change but the record of each server's image (hostwinds.OsImage, a create that reinstalls nothing;
 * no config change, no record replaced), as does one made just before OsImage; a second domain in its own zone, found among
 * the zones the token can see, gets its records there while the host names stay in the tenant's
 * zone; a domain no visible zone holds is refused before anything is bought.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { localStack, programDir, projectRoot, workDirFor } from "../../scripts/lib/engine/pulumi-env";
import { ENGINE_TEST_CEILING_MS } from "./harness";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";

const KEY = "sim-key-zones-0123456789";
const CF_TOKEN = "sim-cf-token-zones-0123456789";
const BACKEND = "domain-zones";

jest.setTimeout(ENGINE_TEST_CEILING_MS);

const git = (...args: string[]) => execFileSync("git", args, { cwd: projectRoot, encoding: "utf8" }).trim();

/**
 * The program as it was before domains had zones of their own (the parent of the commit that
 * added providers/model/zones.ts), compiled in a worktree of its own in this checkout's ignored
 * .pulumi-dev/before-trees/ (it was in the machine's temporary folder, shared by every checkout,
 * and its node_modules link then pointed into whichever checkout built it first, even once that
 * checkout was deleted: "Cannot find module '@pulumi/pulumi'" in every later clone). Its
 * program is the old one; the dynamic providers it registers load this project's dist/providers
 * (lazy-provider.ts resolves them from @pulumi/pulumi, which the worktree links here), so what
 * differs is what the program declares: each record's zone, name and content.
 */
function programBefore(file = "providers/model/zones.ts"): string {
  const added = git("log", "--diff-filter=A", "--format=%H", "--", file).split("\n").pop()!;
  const base = git("rev-parse", `${added}^`);
  const tree = path.join(projectRoot, ".pulumi-dev", "before-trees", `${path.basename(file, ".ts")}-${base.slice(0, 12)}`);
  if (!fs.existsSync(path.join(tree, "dist", "stacks", "index.js"))) {
    fs.rmSync(tree, { recursive: true, force: true });
    git("worktree", "prune");
    git("worktree", "add", "--detach", "-f", tree, base);
    fs.symlinkSync(path.join(projectRoot, "node_modules"), path.join(tree, "node_modules"));
    execFileSync(process.execPath, [path.join(projectRoot, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], {
      cwd: tree,
      stdio: "inherit",
    });
  }
  const dir = workDirFor(`domain-zones-before-${path.basename(file, ".ts")}`);
  fs.writeFileSync(
    path.join(dir, "Pulumi.yaml"),
    fs.readFileSync(path.join(programDir("domain-zones", "stacks", "penguinmails-infra"), "Pulumi.yaml")),
  );
  fs.writeFileSync(path.join(dir, "index.js"), `module.exports = require(${JSON.stringify(path.join(tree, "dist", "stacks"))});\n`);
  return dir;
}

describe("sending domains in zones of their own", () => {
  let sim: HostwindsSim;
  let cf: CloudflareSim;
  const dir = programDir("domain-zones", "stacks", "penguinmails-infra");
  const stacks: Stack[] = [];
  const purchases = () => sim.ledger(KEY).filter((e) => e.event === "bought").length;

  beforeAll(async () => {
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 200, ipDelayMs: 200 }).start();
    cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: ["acme-mail.com", "globex.io", "tryacme.io"] } }).start();
    for (const z of ["acme-mail.com", "globex.io", "tryacme.io", "acmeoutreach.com"]) cf.addZone(z);
  });
  afterAll(async () => {
    for (const s of stacks) await s.workspace.removeStack(s.name, { force: true }).catch(() => undefined);
    await sim.stop();
    await cf.stop();
  });

  const tenant = (over: Record<string, unknown> = {}) => ({
    id: "acme",
    tier: "starter",
    monthlyBudgetUsd: 25,
    zone: "acme-mail.com",
    domains: [{ name: "acme-mail.com" }],
    servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 1 }],
    ...over,
  });

  async function tenantStack(name: string, t: unknown, workDir = dir): Promise<Stack> {
    const stack = await localStack(name, workDir, { backend: BACKEND });
    stacks.push(stack);
    await stack.setAllConfig({
      ...sim.stackConfig(KEY),
      ...cf.stackConfig(CF_TOKEN),
      installMailu: { value: "false" },
      tenant: { value: JSON.stringify(t) },
    });
    return stack;
  }

  test("a stack made by the code before zones of their own previews no change but the image records (OsImage) and the plan record: same config, no record replaced", async () => {
    const name = `before-${process.pid}`;
    // A domain below the zone (globex's shape) and one at its apex (acme's): both kinds of existing config.
    const config = tenant({ id: "globex", zone: "globex.io", domains: [{ name: "mail.globex.io" }, { name: "globex.io" }] });
    const before = programBefore();
    const old = await tenantStack(name, config, before);
    expect((await old.up()).summary.result).toBe("succeeded");
    const recordsBefore = cf.records("globex.io").map((r) => `${r.id} ${r.type} ${r.name} ${r.content}`);
    // The same stack and its config file as they are (the secrets' salt with them), under this code.
    fs.copyFileSync(path.join(before, `Pulumi.${name}.yaml`), path.join(dir, `Pulumi.${name}.yaml`));
    const stack = await localStack(name, dir, { backend: BACKEND });
    await previewsOnlyTheImageRecord(stack);
    expect(cf.records("globex.io").map((r) => `${r.id} ${r.type} ${r.name} ${r.content}`)).toEqual(recordsBefore);
    await stack.destroy();
  });

  /**
   * A stack made before hostwinds.OsImage previews, under this code, no replace, no delete and no
   * update: only the new record of each server's image (a create that reinstalls nothing, since the
   * image asked for is the one the server was bought with); `up` then buys and changes nothing.
   */
  async function previewsOnlyTheImageRecord(stack: Stack): Promise<void> {
    const bought = purchases();
    const ops: string[] = [];
    const preview = await stack.preview({
      diff: true,
      onEvent: (e) => {
        const m = e.resourcePreEvent?.metadata;
        if (m && m.op !== "same") ops.push(`${m.op} ${m.type}`);
      },
    });
    // Besides the image records, the tenant's plan record may take the mailbox count it now keeps (0): an
    // update of that record alone, which buys and changes nothing on any server or zone.
    expect(
      Object.keys(preview.changeSummary)
        .filter((k) => k !== "update")
        .sort(),
    ).toEqual(["create", "same"]);
    expect(ops.filter((o) => !o.startsWith("update "))).toEqual(
      Array(preview.changeSummary.create).fill("create pulumi-nodejs:dynamic/hostwinds:OsImage"),
    );
    expect([...new Set(ops.filter((o) => o.startsWith("update ")))]).toEqual(
      preview.changeSummary.update ? ["update pulumi-nodejs:dynamic/penguinmails:TenantPlan"] : [],
    );
    expect(preview.stdout).not.toMatch(/reinstalled in place/);
    expect((await stack.up()).summary.resourceChanges).toEqual({
      same: expect.any(Number),
      create: preview.changeSummary.create,
      ...(preview.changeSummary.update ? { update: preview.changeSummary.update } : {}),
    });
    expect(purchases()).toBe(bought);
    expect(sim.ledger(KEY).filter((e) => e.event === "reinstalled")).toEqual([]);
    await expect(stack.preview({ expectNoChanges: true })).resolves.toBeDefined();
  }

  test("a stack made by the code before OsImage previews only the image records and the plan record: no replace or delete; DNS unchanged", async () => {
    const name = `before-os-${process.pid}`;
    const config = tenant({ id: "initech", zone: "tryacme.io", domains: [{ name: "tryacme.io" }] });
    const before = programBefore("providers/hostwinds/os-image.ts");
    const old = await tenantStack(name, config, before);
    expect((await old.up()).summary.result).toBe("succeeded");
    const recordsBefore = cf.records("tryacme.io").map((r) => `${r.id} ${r.type} ${r.name} ${r.content}`);
    fs.copyFileSync(path.join(before, `Pulumi.${name}.yaml`), path.join(dir, `Pulumi.${name}.yaml`));
    const stack = await localStack(name, dir, { backend: BACKEND });
    await previewsOnlyTheImageRecord(stack);
    expect(cf.records("tryacme.io").map((r) => `${r.id} ${r.type} ${r.name} ${r.content}`)).toEqual(recordsBefore);
    await stack.destroy();
  });

  test("a second domain in its own zone: its records there, the host names in the tenant's zone", async () => {
    const stack = await tenantStack(
      `two-${process.pid}`,
      tenant({ domains: [{ name: "acme-mail.com" }, { name: "tryacme.io", dmarcPolicy: "reject" }] }),
    );
    const up = await stack.up();
    expect(up.summary.result).toBe("succeeded");
    const mine = (zone: string) => cf.records(zone).map((r) => `${r.type} ${r.name}`);
    expect(mine("tryacme.io")).toEqual(
      expect.arrayContaining(["MX tryacme.io", "TXT tryacme.io", "TXT _dmarc.tryacme.io", "TXT pm1._domainkey.tryacme.io"]),
    );
    expect(mine("tryacme.io").every((r) => r.endsWith("tryacme.io"))).toBe(true);
    expect(mine("acme-mail.com")).toEqual(expect.arrayContaining(["A mx1.acme-mail.com", "A mx1-ip1.acme-mail.com", "MX acme-mail.com"]));
    expect(cf.records("tryacme.io").find((r) => r.type === "MX")?.content).toBe("mx1.acme-mail.com");
    await stack.destroy();
    expect(cf.records("tryacme.io")).toEqual([]);
  });

  test("a domain no zone of the token holds is refused before anything is bought, naming the domain and what to do", async () => {
    const stack = await tenantStack(
      `unknown-${process.pid}`,
      tenant({ domains: [{ name: "acme-mail.com" }, { name: "acmeoutreach.com" }] }),
    );
    const bought = purchases();
    const err = String(
      await stack.preview().then(
        () => "",
        (e: Error) => e.message,
      ),
    );
    expect(err).toContain(
      "tenant acme: tenant.domains[1] acmeoutreach.com: no zone the Cloudflare token can see holds it (it sees acme-mail.com, globex.io, tryacme.io); add the zone in Cloudflare and give the token access to it, or name it with domains[1].zone",
    );
    expect(purchases()).toBe(bought);
    expect(cf.records("acmeoutreach.com")).toEqual([]);
  });
});
