/** The console's pages as pure renderers: data in, HTML out (every value escaped by ./html.ts). */
import { FleetCost, TenantCost } from "../cost";
import { CapacityAdvice } from "../capacity";
import type { FleetTenantRow } from "../store/console";
import { Html, barChart, html, page, seg, usd, warmupCurve } from "./html";

export interface Session {
  caller: string;
  csrf: string;
}

export function loginPage(error?: string): string {
  return page(
    "Sign in",
    html`<h1>Sign in</h1>
      ${error ? html`<p class="alert" role="alert">${error}</p>` : ""}
      <form method="post" action="/console/login">
        <p>
          <label for="token">API token</label><br />
          <input id="token" name="token" type="password" autocomplete="off" size="50" required />
        </p>
        <p><button type="submit">Sign in</button></p>
      </form>
      <p class="muted">An operator token shows every tenant; a tenant's token shows only that tenant.</p>`,
  );
}

export function errorPage(status: number, message: string, s?: Session): string {
  return page(
    `Error ${status}`,
    html`<h1>${status === 404 ? "Not found" : "Error"}</h1>
      <p role="alert">${message}</p>
      <p><a href="/console/fleet">Back to the fleet</a></p>`,
    s,
  );
}

const pct = (n: number | null) => (n === null ? "—" : `${n}%`);
const budgetClass = (n: number | null) => (n !== null && n >= 100 ? "alert" : n !== null && n >= 80 ? "alert" : "");

export interface FleetData {
  totals: { servers: number; sending: number; standby: number; paused: number; incidents: number };
  cost: FleetCost;
  tenants: Array<FleetTenantRow & { cost?: TenantCost }>;
  next: string | null;
}

export function fleetPage(d: FleetData, s: Session): string {
  return page(
    "Fleet",
    html`<h1>Fleet</h1>
      <div class="figures" aria-label="fleet figures">
        <div><strong>${d.cost.tenants}</strong> tenants</div>
        <div><strong>${d.totals.servers}</strong> servers</div>
        <div><strong>${d.totals.sending}</strong> sending · ${d.totals.standby} standby · ${d.totals.paused} paused IPs</div>
        <div class="${d.totals.incidents ? "alert" : "ok"}"><strong>${d.totals.incidents}</strong> open incidents</div>
        <div>${d.cost.month}: <strong>${usd(d.cost.monthToDateUsd)}</strong> so far, ${usd(d.cost.projectedUsd)} projected</div>
        <div>
          next month ${usd(d.cost.nextMonthUsd)}${d.cost.priceListChangeUsd ? html` (price list ${usd(d.cost.priceListChangeUsd)})` : ""}
        </div>
      </div>
      <h2>Tenants</h2>
      ${table(
        ["Tenant", "Servers", "IPs (sending/standby/paused)", "Listed", "Open incidents", "Projected", "Budget used"],
        d.tenants,
        (t) => [
          td(html`<a href="/console/tenants/${seg(t.tenant)}">${t.tenant}</a>`),
          td(t.servers),
          td(`${t.sending} / ${t.standby} / ${t.paused}`),
          td(t.listed, t.listed ? "alert" : ""),
          td(t.open_incidents, t.open_incidents ? "alert" : ""),
          td(usd(t.cost?.projectedUsd)),
          td(pct(t.cost?.budgetPct ?? null), budgetClass(t.cost?.budgetPct ?? null)),
        ],
      )}
      ${d.next ? html`<p><a href="/console/fleet?after=${encodeURIComponent(d.next)}">Next tenants</a></p>` : ""}`,
    s,
  );
}

export interface TenantData {
  tenant: string;
  servers: Array<{
    server: string;
    hostname: string;
    main_ip: string;
    plan: number | null;
    monthly_usd: string;
    resources?: string | null;
  }>;
  ips: Array<{
    ip: string;
    server: string;
    role: string;
    ptr: string;
    verdict: string;
    warmup: Array<{ day: number; maxMessages: number }>;
    day: number | null;
  }>;
  incidents: Array<{ id: number; cause: string; status: string; summary: string; openedAt: string; acknowledgedAt: string | null }>;
  cost: TenantCost | undefined;
  byMonth: Array<{ label: string; value: number }>;
  capacity: CapacityAdvice;
}

export function tenantPage(d: TenantData, s: Session): string {
  return page(
    `Tenant ${d.tenant}`,
    html`<p><a href="/console/fleet">Fleet</a> › ${d.tenant}</p>
      <h1>Tenant ${d.tenant}</h1>
      <h2>Cost</h2>
      ${costFigures(d.cost)} ${barChart(`Cost by month, ${d.tenant}`, d.byMonth)}
      <h2>Servers</h2>
      ${serversTable(d)}
      <h2>IPs</h2>
      ${ipsTable(d)}
      <h2>Capacity</h2>
      ${capacityAdvice(d)}
      <h2>Incidents</h2>
      ${incidentsTable(d)}`,
    s,
  );
}

/** The tenant's cost this month, projected, next month and against its budget. */
function costFigures(c: TenantCost | undefined): Html {
  return c
    ? html`<div class="figures">
          <div>${c.month}: <strong>${usd(c.monthToDateUsd)}</strong> so far</div>
          <div>projected <strong>${usd(c.projectedUsd)}</strong></div>
          <div>next month ${usd(c.nextMonthUsd)}${c.openRequestsUsd ? html` (open requests ${usd(c.openRequestsUsd)})` : ""}</div>
          <div class="${budgetClass(c.budgetPct)}">budget ${usd(c.budgetUsd)}: ${pct(c.budgetPct)} used</div>
          ${c.priceListChangeUsd ? html`<div>price-list change ${usd(c.priceListChangeUsd)} a month</div>` : ""}
        </div>
        ${c.assumptions.map((x) => html`<p class="muted">${x}</p>`)}`
    : html`<p class="muted">nothing held</p>`;
}

/** A cell: its content, with a class when the value says something (alert, muted). */
const td = (v: unknown, cls = ""): Html => (cls ? html`<td class="${cls}">${v}</td>` : html`<td>${v}</td>`);

/** A table of `items`: a header row of `columns`, then one row per item, its cells from `cells`. */
function table<T>(columns: string[], items: T[], cells: (x: T) => Html[]): Html {
  return html`<table>
    <thead>
      <tr>
        ${columns.map((c) => html`<th scope="col">${c}</th>`)}
      </tr>
    </thead>
    <tbody>
      ${items.map(
        (x) =>
          html`<tr>
            ${cells(x)}
          </tr>`,
      )}
    </tbody>
  </table>`;
}

/** One row per server: host name, main IP, plan, price, resource use. */
function serversTable(d: TenantData): Html {
  return table(["Server", "Host name", "Main IP", "Plan", "A month", "Resource use"], d.servers, (x) => [
    td(x.server),
    td(x.hostname),
    td(x.main_ip),
    td(x.plan ?? "—"),
    td(usd(Number(x.monthly_usd))),
    x.resources ? td(x.resources) : td("not checked yet", "muted"),
  ]);
}

/** One row per IP: server, role, PTR, blocklists, warm-up curve. */
function ipsTable(d: TenantData): Html {
  return table(["IP", "Server", "Role", "PTR", "Blocklists", "Warm-up"], d.ips, (i) => [
    td(i.ip),
    td(i.server),
    td(i.role),
    td(i.ptr),
    td(i.verdict, i.verdict === "listed" ? "alert" : ""),
    td(html`${warmupCurve(i.ip, i.warmup, i.day)} <span class="muted">${i.day === null ? "" : `day ${i.day}`}</span>`),
  ]);
}

/** The busiest recent day against today's cap, and the IPs or upgrades advised. */
function capacityAdvice(d: TenantData): Html {
  const a = d.capacity.advice;
  return html`<p>
      Busiest recent day ${d.capacity.recentPeakPerDay} of ${d.capacity.capPerDay} messages the sending IPs may send today
      (${pct(d.capacity.usePct)}).
    </p>
    ${
      a
        ? html`<p class="alert">${a.why}: ${usd(a.monthlyUsd)} a month.</p>
            <p><a href="/console/tenants/${seg(d.tenant)}/advice">Request ${a.moreIps} more IP(s)…</a></p>`
        : ""
    }
    ${(d.capacity.plans ?? []).map((p) =>
      p.request
        ? html`<p class="alert">${p.why}: ${usd(p.extraMonthlyUsd ?? 0)} a month more.</p>
            <p>
              <a href="/console/tenants/${seg(d.tenant)}/servers/${seg(p.server)}/upgrade">Upgrade ${p.server} to plan ${p.toPlan}…</a>
            </p>`
        : html`<p class="alert">${p.why}.</p>`,
    )}`;
}

/** The tenant's incidents: cause, status (acknowledged or not), when opened, summary. */
function incidentsTable(d: TenantData): Html {
  return d.incidents.length
    ? table(["Incident", "Cause", "Status", "Opened", "Summary"], d.incidents, (i) => [
        td(html`<a href="/console/incidents/${seg(i.id)}">#${i.id}</a>`),
        td(i.cause),
        td(`${i.status}${i.status === "open" && i.acknowledgedAt ? " (acknowledged)" : ""}`, i.status === "open" ? "alert" : "ok"),
        td(i.openedAt),
        td(i.summary),
      ])
    : html`<p class="ok">No incidents.</p>`;
}

export interface IncidentData {
  id: number;
  tenant: string;
  cause: string;
  status: string;
  summary: string;
  openedAt: string;
  resolvedAt: string | null;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  timeline: Array<{ at: string; kind: string; detail: string }>;
}

export function incidentPage(i: IncidentData, s: Session): string {
  return page(
    `Incident ${i.id}`,
    html`<p><a href="/console/fleet">Fleet</a> › <a href="/console/tenants/${seg(i.tenant)}">${i.tenant}</a> › incident ${i.id}</p>
      <h1>Incident ${i.id}: ${i.cause}</h1>
      <p class="${i.status === "open" ? "alert" : "ok"}" id="status">${i.status}${i.resolvedAt ? ` since ${i.resolvedAt}` : ""}</p>
      <p>${i.summary}</p>
      <p id="ack">
        ${
          i.acknowledgedAt
            ? html`Acknowledged by ${i.acknowledgedBy} at ${i.acknowledgedAt}.`
            : i.status === "open"
              ? html`<a href="/console/incidents/${seg(i.id)}/ack">Acknowledge…</a>`
              : "Not acknowledged."
        }
      </p>
      <h2>Timeline</h2>
      <ol>
        ${i.timeline.map((e) => html`<li><time datetime="${e.at}">${e.at}</time> <strong>${e.kind}</strong>: ${e.detail}</li>`)}
      </ol>`,
    s,
  );
}

/** A confirmation before an action: what it does, a CSRF-protected form, and a way back. */
export function confirmPage(
  title: string,
  what: Html,
  action: string,
  back: string,
  s: Session,
  fields: Record<string, string> = {},
): string {
  return page(
    title,
    html`<h1>${title}</h1>
      <p>${what}</p>
      <form method="post" action="${action}">
        <input type="hidden" name="csrf" value="${s.csrf}" />
        ${Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}" />`)}
        <button type="submit" id="confirm">${title}</button>
        <a href="${back}">Cancel</a>
      </form>`,
    s,
  );
}
