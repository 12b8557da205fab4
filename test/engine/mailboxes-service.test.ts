/**
 * Mailboxes through the service, as the platform drives them over HTTP (issue 26): MailU installed
 * on the SSH-host stand-in by the tenant's first apply; bad input refused before any commit, naming
 * the field; two mailboxes created, each request's result showing its password and SMTP/IMAP settings
 * exactly once; one changed, one deleted, the other's password rotated. Then the passwords are looked
 * for where they must never be: the stack's state files, the config repository's whole history, the
 * service's output (its log), every table of the service (webhook bodies included) and the host's tool log.
 * Last, the tenant (onboarded by POST /tenants, so its servers back up to the operator's target,
 * PENGUINMAILS_BACKUP_REPOSITORY: a real restic REST target) is offboarded by DELETE /tenants/mbx:
 * the request's result and its webhook name the final backup, done, with its repository and
 * snapshot; real restic finds in that snapshot a mail delivered just before the DELETE; the
 * state is archived, every purchase released and the Hostwinds stand-in's ledger balanced (issue 25).
 */
import * as fs from "fs";
import * as path from "path";
import { Pool } from "pg";
import { devDir } from "../../scripts/lib/engine/pulumi-env";
import {
  ServiceEnvironment,
  ServiceRequest,
  WebhookReceiver,
  startServiceEnvironment,
  startWebhookReceiver,
} from "../../scripts/dev/service-harness";
import { SshHostSim } from "../../scripts/dev/standins/ssh-host";
import { RestBackupTarget } from "../../scripts/dev/standins/backup-target";
import { restic, snapshots } from "../../scripts/lib/restic";
import { serverRepository } from "../../components/mailu-backup";
import { ENGINE_TEST_CEILING_MS, readAll } from "./harness";

const ZONE = "mbx-mail.com";
const TENANT = {
  id: "mbx",
  tier: "starter",
  monthlyBudgetUsd: 25,
  zone: ZONE,
  domains: [{ name: ZONE }],
  servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 1 }],
};
const SECRET = "webhook-secret-for-mailboxes-service";
const unavailable = SshHostSim.unavailableReason() ?? RestBackupTarget.unavailableReason();
if (unavailable) console.warn(`mailboxes-service engine tests skipped: ${unavailable}`);
const maybe = unavailable ? describe.skip : describe;
jest.setTimeout(ENGINE_TEST_CEILING_MS);

interface Problem {
  code: string;
  detail: string;
  errors?: Array<{ field: string; message: string }>;
}
interface Mailbox {
  address: string;
  password: string;
  username: string;
  smtp: { host: string; submission: { port: number; security: string }; submissions: { port: number; security: string } };
  imap: { host: string; port: number; security: string };
}

maybe("mailboxes through the service", () => {
  let hosts: SshHostSim;
  let target: RestBackupTarget;
  let env: ServiceEnvironment;
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    hosts = new SshHostSim({ dir: path.join(devDir, "ssh-hosts", `mailboxes-service-${process.pid}`) });
    target = await new RestBackupTarget({ dir: path.join(devDir, "backup-targets", `mailboxes-service-${process.pid}`) }).start();
    // Each server runs in its own network namespace: the target's loopback port is forwarded into it.
    await hosts.forwardLoopback(Number(/:(\d+)\/$/.exec(target.repository)![1]));
    receiver = await startWebhookReceiver(SECRET);
    // The tenant is onboarded through the API below (its zone is the stand-in's part).
    env = await startServiceEnvironment({
      name: "mailboxes-service",
      tenants: [],
      hosts,
      env: { PENGUINMAILS_BACKUP_REPOSITORY: target.repository, PENGUINMAILS_WEBHOOK_SECRET: SECRET },
      args: () => ["--webhook-url", receiver.url],
    });
    env.cf.addZone(ZONE);
  });
  afterAll(async () => {
    await env?.stop();
    await hosts?.stop();
    await target?.stop();
    receiver?.close();
  });

  const settled = async (r: { status: number; body: ServiceRequest }) => {
    expect([r.status, (r.body as unknown as Problem).detail]).toEqual([202, undefined]);
    const done = await env.settle(r.body.id);
    expect([done.status, done.failureReason]).toEqual([expect.stringMatching(/^(assigned|released)$/), null]);
    return done;
  };
  const mailboxOf = async (id: string) => (await env.api<{ result: { mailbox: Mailbox } }>("GET", `/requests/${id}`)).body.result.mailbox;
  const base = `/tenants/mbx/domains/${ZONE}/mailboxes`;

  test("bad input is refused before any commit, naming the field; two created, each password shown once; changed, deleted, rotated; the passwords nowhere else", async () => {
    // Onboarding, the tenant's first apply: the backup step, then MailU on its server, its domain recorded.
    await settled(await env.api<ServiceRequest>("POST", "/tenants", TENANT));
    const ip = hosts.addresses()[0];

    const head = env.repo.git("ls-remote", env.repo.remote, "main");
    const unknown = await env.api<Problem>("POST", `/tenants/mbx/domains/other-mail.com/mailboxes`, { localPart: "sales" });
    expect([unknown.status, unknown.body.code, unknown.body.errors?.[0].field]).toEqual([422, "unknown_domain", "params.domain"]);
    const refused = await env.api<Problem>("POST", base, { localPart: "Sales Team" });
    expect([refused.status, refused.body.code, refused.body.errors?.[0].field]).toEqual([400, "invalid_body", "body.localPart"]);
    const reserved = await env.api<Problem>("POST", base, { localPart: "admin" });
    expect(reserved.body.errors?.[0]).toMatchObject({
      field: "body.localPart",
      message: expect.stringContaining("the stack does not use itself"),
    });
    expect(env.repo.git("ls-remote", env.repo.remote, "main")).toBe(head);

    // Two mailboxes: the first read of each finished request (the one that saw it end) has the password and
    // the settings; every later read has none.
    const a = await settled(await env.api<ServiceRequest>("POST", base, { localPart: "sales" }));
    const b = await settled(await env.api<ServiceRequest>("POST", base, { localPart: "hello", quotaMb: 50 }));
    const first = (a.result as unknown as { mailbox: Mailbox }).mailbox;
    const second = (b.result as unknown as { mailbox: Mailbox }).mailbox;
    for (const [m, address] of [
      [first, `sales@${ZONE}`],
      [second, `hello@${ZONE}`],
    ] as const) {
      expect(m).toEqual({
        address,
        username: address,
        password: expect.stringMatching(/^[A-Za-z0-9]{24}$/),
        smtp: { host: `mx1.${ZONE}`, submission: { port: 587, security: "STARTTLS" }, submissions: { port: 465, security: "TLS" } },
        imap: { host: `mx1.${ZONE}`, port: 993, security: "TLS" },
      });
    }
    expect((await mailboxOf(a.id)).password).toBe(`shown once, in GET /requests/${a.id}`);
    const listed = await env.api<{ mailboxes: Array<Record<string, unknown>> }>("GET", base);
    expect(listed.body.mailboxes.map((m) => `${m.address} ${m.quotaMb} ${m.enabled}`)).toEqual([
      `hello@${ZONE} 50 true`,
      `sales@${ZONE} 1024 true`,
    ]);
    const dup = await env.api<Problem>("POST", base, { localPart: "sales" });
    expect([dup.status, dup.body.code]).toEqual([409, "mailbox_exists"]);

    // One changed, one deleted, the other's password rotated (a new one, shown once).
    await settled(await env.api<ServiceRequest>("PUT", `${base}/sales@${ZONE}`, { enabled: false }));
    await settled(await env.api<ServiceRequest>("DELETE", `${base}/hello@${ZONE}`));
    const rotated = await settled(await env.api<ServiceRequest>("POST", `${base}/sales@${ZONE}/rotate`, {}));
    const third = (rotated.result as unknown as { mailbox: Mailbox }).mailbox;
    expect((await mailboxOf(rotated.id)).password).toBe(`shown once, in GET /requests/${rotated.id}`);
    expect(third.password).toMatch(/^[A-Za-z0-9]{24}$/);
    expect(third.password).not.toBe(first.password);
    const users = hosts.state<{ users: Record<string, { enabled?: boolean }> }>(ip, "compose-mailu")!.users;
    expect(Object.keys(users).sort()).toEqual([`admin@${ZONE}`, `sales@${ZONE}`]);
    expect(users[`sales@${ZONE}`].enabled).toBe(false);

    // Nowhere else: state files, the config history, the service's log, its tables (webhooks included), the host's tool log.
    const pool = new Pool({ connectionString: env.pg.url });
    let tables = "";
    try {
      const names = (await pool.query<{ t: string }>("select table_name as t from information_schema.tables where table_schema = 'public'"))
        .rows;
      for (const { t } of names)
        tables += (await pool.query(`select row_to_json(x)::text as j from "${t}" x`)).rows.map((r) => r.j).join("\n");
    } finally {
      await pool.end();
    }
    const places = {
      state: readAll(path.join(devDir, "backends")),
      git: env.repo.git("log", "-p", "--all"),
      log: env.service.output(),
      tables,
      tools: JSON.stringify(hosts.calls(ip)),
    };
    expect(tables).toContain("request.status"); // the webhook bodies are among them
    for (const pw of [first.password, second.password, third.password])
      for (const [where, text] of Object.entries(places)) expect([where, text.includes(pw)]).toEqual([where, false]);
  });

  test("offboarding over HTTP: the final backup done, its snapshot holding the mail delivered just before, in the result, the webhook and the target; the state archived; the ledger balanced", async () => {
    const ip = hosts.addresses()[0];
    const mail = `/mailu/mail/sales@${ZONE}/new/1700000099.M9P1.mx1`;
    const delivered = await hosts.run(
      ip,
      `mkdir -p "$(dirname ${mail})" && cat > ${mail}`,
      "Subject: the last one\r\n\r\nbefore offboarding\r\n",
    );
    expect([delivered.code, delivered.stderr]).toEqual([0, ""]);
    // The server's restic password (the stack's secret, on the server root-only): what the operator's state archive keeps.
    const password = (await hosts.run(ip, "cat /etc/penguinmails/backup.password")).stdout.trim();

    const off = await env.api<ServiceRequest>("DELETE", "/tenants/mbx");
    expect(off.status).toBe(202);
    const done = await env.settle(off.body.id);
    expect([done.status, done.failureReason]).toEqual(["released", null]);
    const result = done.result as unknown as {
      finalBackups: Array<{ server: string; status: string; repository?: string; snapshot?: string }>;
      stateBackup: string;
      releasedServers: Array<{ server: string }>;
      releasedIps: string[];
    };
    const repository = serverRepository(target.repository, "mbx", "mx1");
    expect(result.finalBackups).toEqual([
      {
        server: "mx1",
        status: "done",
        repository: repository.replace(/:\/\/[^/@]*@/, "://"),
        snapshot: expect.stringMatching(/^[0-9a-f]{8,64}$/),
        detail: expect.stringContaining("a final snapshot of MailU's data saved"),
      },
    ]);
    const snapshot = result.finalBackups[0].snapshot!;
    // The webhook names it too (request.status of the offboarding, released).
    const hook = () =>
      receiver.hooks.find((h) => {
        const r = h.request as { id?: string; status?: string } | undefined;
        return h.event === "request.status" && r?.id === off.body.id && r.status === "released";
      });
    const until = Date.now() + 3 * 60_000;
    while (!hook() && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    expect((hook()?.request as { result?: typeof result } | undefined)?.result?.finalBackups).toEqual(result.finalBackups);

    // Real restic against the target: the final snapshot is the newest of the server, and it holds the mail.
    const access = { repository, password };
    const all = await snapshots(access);
    expect(all[all.length - 1].id.startsWith(snapshot)).toBe(true);
    const files = (await restic(access, ["ls", snapshot])).toString();
    expect(files).toContain(mail);
    const content = (await restic(access, ["dump", snapshot, mail])).toString();
    expect(content).toContain("before offboarding");

    // The state archived, every purchase released, the ledger balanced, the tenant offboarded.
    expect(fs.existsSync(result.stateBackup)).toBe(true);
    expect(result.releasedServers.map((s) => s.server)).toEqual(["mx1"]);
    expect(result.releasedIps).toHaveLength(1);
    const ledger = env.sim.ledger(env.hostwindsKey);
    for (const kind of ["server", "ip"])
      expect([kind, ledger.filter((e) => e.kind === kind && e.event === "released").length]).toEqual([
        kind,
        ledger.filter((e) => e.kind === kind && e.event === "bought").length,
      ]);
    expect(env.sim.inventory(env.hostwindsKey)).toEqual([]);
    expect((await env.api<{ status: string }>("GET", "/tenants/mbx")).body.status).toBe("offboarded");
  });
});
