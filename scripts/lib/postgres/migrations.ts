/**
 * The service's schema, as numbered migrations applied in order at start (each once, in a
 * transaction, recorded in service_migrations). Never edit a released migration: add the next one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "requests, IPs, usage, tokens, webhooks, monitoring",
    sql: `
create table service_requests (
  id uuid primary key default gen_random_uuid(),
  tenant text not null,
  requester text not null,
  kind text not null check (kind in ('acquire_ips', 'add_server', 'release_ip', 'retire_ip', 'pause_ip', 'add_standby')),
  params jsonb not null,
  status text not null default 'requested'
    check (status in ('requested', 'confirmed', 'purchasing', 'releasing', 'assigned', 'released', 'rejected', 'failed')),
  -- the Hostwinds server the request is about: {server, location, plan, serviceId}
  hostwinds jsonb,
  domain text,
  commit_sha text,
  failure_reason text,
  -- what the request ended with: IPs bought or released, warm-up, cost
  result jsonb,
  requested_at timestamptz not null default now(),
  confirmed_at timestamptz,
  purchasing_at timestamptz,
  releasing_at timestamptz,
  assigned_at timestamptz,
  released_at timestamptz,
  rejected_at timestamptz,
  failed_at timestamptz,
  updated_at timestamptz not null default now()
);
create index service_requests_tenant on service_requests (tenant, requested_at desc);

-- Every status change, in order: the lifecycle as it happened, and the webhooks' source.
create table request_events (
  id bigserial primary key,
  request_id uuid not null references service_requests (id),
  status text not null,
  at timestamptz not null default now(),
  detail jsonb
);
create index request_events_request on request_events (request_id, id);

-- IPs a request bought or released, as the engine reported each one.
create table request_ips (
  request_id uuid not null references service_requests (id),
  ip text not null,
  action text not null check (action in ('bought', 'released')),
  resource text not null,
  at timestamptz not null default now(),
  primary key (request_id, ip, action)
);

-- A tenant's IPs as its stack's outputs last said, plus what monitoring found.
create table tenant_ips (
  tenant text not null,
  ip text not null,
  server text not null,
  role text not null check (role in ('sending', 'standby', 'paused')),
  -- 1-based place among the server's sending (or standby) IPs; lowering a count releases the last
  slot integer not null,
  ptr text not null,
  since timestamptz,
  status text not null check (status in ('assigned', 'released')),
  monthly_usd numeric(10, 2) not null default 0,
  -- the warm-up plan from the stack's outputs: [{day, maxMessages}]
  warmup jsonb,
  released_at timestamptz,
  last_check jsonb,
  last_check_at timestamptz,
  updated_at timestamptz not null default now(),
  primary key (tenant, ip)
);

-- A tenant's servers as its stack's outputs last said (monitoring reaches SMTP on the main IP).
create table tenant_servers (
  tenant text not null,
  server text not null,
  hostname text not null,
  main_ip text not null,
  primary key (tenant, server)
);

create table ip_usage (
  tenant text not null,
  ip text not null,
  day date not null,
  sent integer not null check (sent >= 0),
  primary key (tenant, ip, day)
);

create table tenant_settings (
  tenant text primary key,
  auto_emergency_switch boolean not null default false
);

create table api_tokens (
  token_sha256 text primary key,
  caller text not null,
  -- the tenants this token may read and change; '*' means every tenant
  tenants text[] not null,
  created_at timestamptz not null default now()
);

-- The outbox: written in the transaction of the change it reports, delivered by a queue job.
create table webhook_deliveries (
  id bigserial primary key,
  kind text not null check (kind in ('request.status', 'ip.alert')),
  tenant text not null,
  body jsonb not null,
  created_at timestamptz not null default now(),
  attempts integer not null default 0,
  delivered_at timestamptz,
  last_error text
);

create table monitor_results (
  id bigserial primary key,
  tenant text not null,
  ip text not null,
  check_name text not null,
  status text not null,
  detail text not null,
  at timestamptz not null default now()
);
create index monitor_results_ip on monitor_results (tenant, ip, check_name, id desc);

-- Live service processes and the queue workers each runs: a worker whose process stopped
-- heartbeating has its jobs unlocked for another (or the restarted) process.
create table service_instances (
  id text primary key,
  started_at timestamptz not null default now(),
  heartbeat_at timestamptz not null default now()
);
create table service_workers (
  worker_id text primary key,
  instance_id text not null references service_instances (id) on delete cascade
);
`,
  },
  {
    version: 2,
    name: "completion by id, idempotency, cancel, token expiry, webhook order, fleet and budget tables",
    sql: `
-- A request's commit (and a refused change's revert) is known by the sha recorded here before
-- the push, never by searching commit messages (a caller's text can be in them).
alter table service_requests add column pending_commit_sha text;
alter table service_requests add column revert_sha text;
alter table service_requests add column pending_revert_sha text;
alter table service_requests add column cancelled_at timestamptz;
alter table service_requests add column caller text;
alter table service_requests add column idempotency_key text;
alter table service_requests add column body_sha256 text;
create unique index service_requests_idempotency on service_requests (caller, idempotency_key) where idempotency_key is not null;
create index service_requests_tenant_id on service_requests (tenant, requested_at desc, id desc);
alter table service_requests drop constraint service_requests_status_check;
alter table service_requests add constraint service_requests_status_check
  check (status in ('requested', 'confirmed', 'purchasing', 'releasing', 'assigned', 'released', 'rejected', 'failed', 'cancelled'));

alter table api_tokens add column id bigserial unique;
alter table api_tokens add column expires_at timestamptz;
alter table api_tokens add column revoked_at timestamptz;
-- requests a minute this token may make (null = the service's default)
alter table api_tokens add column rate_per_minute integer check (rate_per_minute > 0);

-- Every event of a tenant carries the next number of its tenant: receivers order by it.
create table tenant_event_seq (tenant text primary key, last bigint not null);
alter table webhook_deliveries add column seq bigint;
alter table webhook_deliveries add column next_attempt_at timestamptz;
alter table webhook_deliveries add column given_up_at timestamptz;
create index webhook_deliveries_undelivered on webhook_deliveries (tenant, id) where delivered_at is null;
create index monitor_results_at on monitor_results (at);

-- The fleet's queue runs (scripts/cli/fleet/queue.ts) and the shared API budgets
-- (providers/lib/budget.ts, which creates the same table itself when it runs on a database
-- these migrations have not reached: the provider process has no access to them).
create table idempotency_keys (
  caller text not null,
  key text not null,
  route text not null,
  body_sha256 text not null,
  status integer not null,
  response jsonb not null,
  created_at timestamptz not null default now(),
  primary key (caller, key, route)
);

create table if not exists fleet_results (run text not null, tenant text not null, result jsonb not null,
  worker text not null, finished_at timestamptz not null default now(), primary key (run, tenant));
create table if not exists fleet_halts (run text primary key, tenant text not null, halted_at timestamptz not null default now());
create table if not exists api_budgets (credential text primary key, tokens double precision not null,
  at timestamptz not null default clock_timestamp());
`,
  },
  {
    version: 3,
    name: "cost (servers, budgets, budget alerts) and incidents (state, timeline, notifications)",
    sql: `
-- What a server costs and since when it is held (from the stack's outputs), kept across syncs.
alter table tenant_servers add column plan integer;
alter table tenant_servers add column billing_cycle text;
alter table tenant_servers add column monthly_usd numeric(10, 2) not null default 0;
alter table tenant_servers add column since timestamptz not null default now();
alter table tenant_servers add column backup_bytes bigint;
alter table tenant_settings add column monthly_budget_usd numeric(10, 2);

-- A budget alert is sent once per tenant, month and threshold (80, 100 % of the budget).
create table budget_alerts (
  tenant text not null,
  month text not null,
  threshold integer not null,
  projected_usd numeric(10, 2) not null,
  budget_usd numeric(10, 2) not null,
  at timestamptz not null default now(),
  primary key (tenant, month, threshold)
);

alter table webhook_deliveries drop constraint webhook_deliveries_kind_check;
alter table webhook_deliveries add constraint webhook_deliveries_kind_check
  check (kind in ('request.status', 'ip.alert', 'budget.alert', 'incident'));

-- Incidents: one open per tenant and cause; its timeline in incident_events. The flapping
-- filter's state per (tenant, cause) in check_states (service/incidents.ts).
create table incidents (
  id bigserial primary key,
  tenant text not null,
  cause text not null,
  status text not null check (status in ('open', 'resolved')),
  summary text not null,
  opened_at timestamptz not null default now(),
  resolved_at timestamptz,
  acknowledged_at timestamptz,
  acknowledged_by text,
  -- channels notified so far (0 = none); escalation moves to the next after N minutes unacknowledged
  escalation integer not null default 0,
  notified_at timestamptz
);
create unique index incidents_one_open on incidents (tenant, cause) where status = 'open';
create index incidents_tenant on incidents (tenant, id desc);
create table incident_events (
  id bigserial primary key,
  incident_id bigint not null references incidents (id),
  at timestamptz not null default now(),
  kind text not null check (kind in ('opened', 'check', 'action', 'acknowledged', 'notified', 'escalated', 'resolved')),
  detail text not null
);
create index incident_events_incident on incident_events (incident_id, id);
create table check_states (
  tenant text not null,
  cause text not null,
  state jsonb not null,
  primary key (tenant, cause)
);
create index ip_usage_day on ip_usage (day);
`,
  },
  {
    version: 4,
    name: "sending domains with their verification status; domain and tenant requests; domain.status webhooks",
    sql: `
-- A tenant's sending domains as its stack last published them, and their verification as the
-- platform shows it (scripts/lib/verify/domain.ts). A domain belongs to one tenant at a time.
create table tenant_domains (
  domain text primary key,
  tenant text not null,
  zone text not null,
  status text not null default 'pending' check (status in ('pending', 'verified', 'failing')),
  -- what verification compares: the records the domain needs and the IPs it sends from
  expected jsonb not null,
  verification jsonb,
  checked_at timestamptz,
  status_changed_at timestamptz not null default now()
);
create index tenant_domains_tenant on tenant_domains (tenant, domain);

alter table service_requests drop constraint service_requests_kind_check;
alter table service_requests add constraint service_requests_kind_check
  check (kind in ('acquire_ips', 'add_server', 'release_ip', 'retire_ip', 'pause_ip', 'add_standby', 'add_domain', 'remove_domain',
    'create_tenant', 'delete_tenant'));

-- Tenants onboarded and offboarded through the API (a tenant made by hand in YAML has no row).
create table service_tenants (
  id text primary key,
  status text not null check (status in ('onboarding', 'active', 'offboarding', 'offboarded')),
  config jsonb not null,
  created_at timestamptz not null default now(),
  offboarded_at timestamptz,
  -- what offboarding left: final backups, servers and IPs released
  offboarding jsonb
);
alter table webhook_deliveries drop constraint webhook_deliveries_kind_check;
alter table webhook_deliveries add constraint webhook_deliveries_kind_check check (kind in ('request.status', 'ip.alert', 'budget.alert', 'incident', 'domain.status'));
`,
  },
  {
    version: 5,
    name: "reputation: bounces and complaints in usage, a score per IP with 90 days of history, the score threshold of the switch; each IP's domains; warm-up and recovery requests",
    sql: `
-- The platform's usage reports carry bounces and complaints too (service/store/usage.ts).
alter table ip_usage add column bounced integer not null default 0 check (bounced >= 0),
  add column complained integer not null default 0 check (complained >= 0);
-- Each IP's latest reputation (service/reputation.ts: score 0-100 and its inputs) as the API shows it,
-- and the day its warm-up started over (recover_ip resume), from which its sent days count.
-- and the sending domains that leave from it (null: not known, MailU not installed; empty: idle).
alter table tenant_ips add column reputation jsonb, add column reputation_at timestamptz, add column warmup_from date,
  add column domains text[];
-- One row per IP and day: the day's latest score and its lowest, kept 90 days (store/retention.ts).
create table ip_reputation (
  tenant text not null,
  ip text not null,
  day date not null,
  score smallint not null check (score between 0 and 100),
  lowest smallint not null check (lowest between 0 and 100),
  inputs jsonb not null,
  at timestamptz not null default now(),
  primary key (tenant, ip, day)
);
create index ip_reputation_day on ip_reputation (day);
-- The automatic switch also fires when a sending IP's score falls below this (null: on a listing only).
alter table tenant_settings add column switch_below_score smallint check (switch_below_score between 0 and 100);

alter table service_requests drop constraint service_requests_kind_check;
alter table service_requests add constraint service_requests_kind_check
  check (kind in ('acquire_ips', 'add_server', 'release_ip', 'retire_ip', 'pause_ip', 'add_standby', 'add_domain', 'remove_domain',
    'set_warmup', 'recover_ip', 'create_tenant', 'delete_tenant'));
`,
  },
  {
    version: 6,
    name: "mailboxes and their one-time credentials; mailbox requests",
    sql: `
-- A tenant's mailboxes as its stack last published them (never a password).
create table tenant_mailboxes (
  address text primary key,
  tenant text not null,
  domain text not null,
  quota_mb integer not null,
  enabled boolean not null,
  host text not null
);
create index tenant_mailboxes_tenant on tenant_mailboxes (tenant, domain, address);

-- The password a mailbox request made, sealed (AES-256-GCM, the service's credential key, the request's
-- id as associated data) until the platform reads it once with GET /requests/{id}; the row goes then.
create table mailbox_credentials (
  request_id uuid primary key references service_requests (id) on delete cascade,
  tenant text not null,
  address text not null,
  sealed bytea not null,
  created_at timestamptz not null default now()
);

alter table service_requests drop constraint service_requests_kind_check;
alter table service_requests add constraint service_requests_kind_check
  check (kind in ('acquire_ips', 'add_server', 'release_ip', 'retire_ip', 'pause_ip', 'add_standby', 'add_domain', 'remove_domain',
    'set_warmup', 'recover_ip', 'create_tenant', 'delete_tenant', 'add_mailbox', 'change_mailbox', 'remove_mailbox', 'rotate_mailbox'));
`,
  },
  {
    version: 7,
    name: "server checks over SSH (held mail, disk, memory, backup age), domains verified by the monitor every N passes, plan changes",
    sql: `
-- Each server's latest check over SSH (service/server-checks.ts ServerCheck): held mail per relay transport, disks, memory, backup.
alter table tenant_servers add column last_check jsonb;
alter table tenant_servers add column last_check_at timestamptz;

-- Monitoring passes since the monitor last verified the domain (a verified one is verified every N passes).
alter table tenant_domains add column monitor_skips integer not null default 0;

alter table service_requests drop constraint service_requests_kind_check;
alter table service_requests add constraint service_requests_kind_check
  check (kind in ('acquire_ips', 'add_server', 'release_ip', 'retire_ip', 'pause_ip', 'add_standby', 'add_domain', 'remove_domain',
    'set_warmup', 'recover_ip', 'create_tenant', 'delete_tenant', 'add_mailbox', 'change_mailbox', 'remove_mailbox', 'rotate_mailbox',
    'change_plan'));
`,
  },
];
