/**
 * A mailbox's message, end to end, judged by real software in an SSH-host stand-in after the install
 * ran: submitted over SMTP submission (587, plain inside the namespace) authenticated with the
 * mailbox's password, DKIM-signed the way MailU signs, handed to the install's relay, and received at
 * the relay harness's sink (./relay-harness.ts), where mailauth judges the DKIM signature against the
 * record the stack published and the source IP and HELO are read.
 *
 * MailU's own front, smtp, antispam and admin need registry images that cannot be pulled here, so
 * Debian's packages (apt-get in the host, as the install gets Postfix) play them, each configured as
 * MailU 2024.06.57 configures its container:
 *   - rspamd, with MailU's own files rendered into /etc/rspamd/local.d as its start.py renders
 *     /conf/* (core/rspamd/start.py): dkim_signing.conf (core/rspamd/conf/dkim_signing.conf: keys from
 *     admin's vault, `use_vault = true; vault_url = "http://{{ ADMIN_ADDRESS }}:8080/internal/rspamd/vault"`,
 *     `use_esld = false; allow_username_mismatch = true; try_fallback = false`), worker-proxy.inc (the
 *     milter on 11332, `self_scan = yes`) and worker-normal.inc (`enabled = false`);
 *   - admin's vault: ./standins/mailu-admin-vault.ts (admin's two internal rspamd routes, reading the
 *     key the install wrote at /mailu/dkim/<domain>.<selector>.key);
 *   - front + smtp: a second Postfix instance (its own config directory) with MailU's milter settings
 *     (core/postfix/conf/main.cf: `smtpd_milters = inet:…:11332`, `milter_protocol = 6`, `milter_mail_macros
 *     = i {mail_addr} {client_addr} {client_name} {auth_authen}`, `milter_default_action = tempfail`,
 *     `relayhost = {{ RELAYHOST }}`) and its submission checks (master.cf 10025:
 *     `reject_authenticated_sender_login_mismatch`), listening on 587 of an address on MailU's network.
 *     MailU's front (nginx) authenticates a submission against admin (`/internal/auth/email`), which
 *     cannot run here: Dovecot's SASL against a passwd-file judges the password instead, holding a
 *     SHA512-CRYPT hash of each enabled mailbox's password (as MailU keeps only a hash).
 * The client is swaks (Debian), the password passed in a 0600 config file, never on a command line.
 */
import * as path from "path";
import { promises as dnsp } from "dns";
import { SshHostSim } from "./standins/ssh-host";
import { MAILU_BRIDGE, RELAY_ADDRESS } from "../../components/outbound-relay";
import { projectRoot } from "../lib/engine/pulumi-env";
import { RELAY_CEILING_S, SINK, waitUntil } from "./relay-harness";

/** Where the submission listens: an address on MailU's network, as the smtp container has one ([assumed]: Compose picks it). */
export const SUBMISSION_ADDRESS = "192.168.203.10";
const PF = "/etc/postfix-mailu";
const DOVECOT = "/etc/dovecot-mailu";
/** The stand-in tools' node inside a host (ssh-host.ts STANDIN_NODE). */
const NODE = "/usr/local/lib/penguinmails-standin/node";
/**
 * The submission path's packages: MailU's own rspamd and Dovecot in their place, swaks as the client.
 * A test's hosts can hold them from the start (SshHostSim's `packages`, from a cached root filesystem:
 * apt installing them took ~15 s of CPU and ~40 s at every run); startSubmission installs what is missing.
 */
export const SUBMISSION_PACKAGES = ["rspamd", "dovecot-core", "swaks"];

export interface MailboxLogin {
  address: string;
  password: string;
}

/** MailU's core/rspamd/conf files (2024.06.57), rendered with ADMIN_ADDRESS = the vault stand-in in the namespace. */
const RSPAMD_FILES: Record<string, string> = {
  "dkim_signing.conf": `try_fallback = false;
use_esld = false;
allow_username_mismatch = true;
use_vault = true;
vault_url = "http://127.0.0.1:8080/internal/rspamd/vault";
vault_token = "mailu";
.include(try=true,priority=1,duplicate=merge) "/overrides/dkim_signing.conf"
`,
  "worker-proxy.inc": `bind_socket = "127.0.0.1:11332";
upstream "local" {
  default = yes;
  self_scan = yes;
}
`,
  "worker-normal.inc": `type = "normal";
enabled = false;
`,
  // Not MailU's: the namespace has no resolver and no network (lookups fail at once, not after timeouts),
  // and hyperscan's compile would take minutes of a shared CPU; neither touches signing.
  "options.inc": `dns { nameserver = ["127.0.0.1:53"]; timeout = 1s; retransmits = 1; }
disable_hyperscan = true;
`,
};

function postfixMainCf(hostname: string): string {
  return `# The MailU smtp stand-in (scripts/dev/mailu-submission.ts)
compatibility_level = 3.6
queue_directory = /var/spool/postfix-mailu
data_directory = /var/lib/postfix-mailu
syslog_name = postfix-mailu
maillog_file = /var/log/postfix-mailu.log
myhostname = ${hostname}
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
relayhost = [${RELAY_ADDRESS}]:25
smtp_bind_address = ${SUBMISSION_ADDRESS}
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sender_login_maps = texthash:${PF}/sender-login
smtpd_client_restrictions = reject_authenticated_sender_login_mismatch, permit
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
smtpd_milters = inet:127.0.0.1:11332
milter_protocol = 6
milter_mail_macros = i {mail_addr} {client_addr} {client_name} {auth_authen}
milter_default_action = tempfail
`;
}

/** Debian's master.cf for the instance, less its public smtp listener, plus submission on MailU's network and postlog. */
const MASTER_CF = `sed -e '/^smtp \\+inet/d' -e '/^#/d' -e '/^ /d' -e '/^$/d' /usr/share/postfix/master.cf.dist > ${PF}/master.cf
grep -q '^postlog' ${PF}/master.cf || echo 'postlog   unix-dgram n  -       n       -       1       postlogd' >> ${PF}/master.cf
echo '${SUBMISSION_ADDRESS}:submission inet n - n - - smtpd -o syslog_name=postfix-mailu/submission' >> ${PF}/master.cf`;

/** What both Dovecot versions' configs share: where it runs, no TLS, the two mechanisms, Postfix's auth socket. */
const DOVECOT_COMMON = `base_dir = /run/dovecot-mailu
log_path = /var/log/dovecot-mailu.log
ssl = no
auth_mechanisms = plain login`;
const DOVECOT_AUTH_SOCKET = `service auth {
  unix_listener /var/spool/postfix-mailu/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}`;

/** Dovecot's config, auth only, for its major version (2.4 changed the syntax; trixie has 2.4, bookworm 2.3). */
const DOVECOT_CONF = `v=$(dovecot --version | cut -d. -f1,2)
if [ "$v" = 2.3 ]; then cat > ${DOVECOT}/dovecot.conf <<EOF
protocols =
listen =
${DOVECOT_COMMON}
passdb {
  driver = passwd-file
  args = ${DOVECOT}/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
${DOVECOT_AUTH_SOCKET}
EOF
else cat > ${DOVECOT}/dovecot.conf <<EOF
dovecot_config_version = $(dovecot --version | cut -d' ' -f1 | cut -d- -f1)
dovecot_storage_version = $(dovecot --version | cut -d' ' -f1 | cut -d- -f1)
protocols {
}
${DOVECOT_COMMON}
passdb passwd-file {
  passwd_file_path = ${DOVECOT}/passwd
}
userdb static {
  fields {
    uid = nobody
    gid = nogroup
    home = /nonexistent
  }
}
${DOVECOT_AUTH_SOCKET}
EOF
fi`;

const portOpen = (addr: string, port: number) => `(exec 3<>/dev/tcp/${addr}/${port}) 2>/dev/null`;

async function run(hosts: SshHostSim, ip: string, what: string, command: string, stdin = ""): Promise<string> {
  const r = await hosts.run(ip, command, stdin);
  if (r.code !== 0) throw new Error(`${what} on ${ip} failed (${r.code}): ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/**
 * Installs and starts the submission path on a host whose install ran (MailU's files, the relay) and
 * whose relay and sink run (startRelay). `mailboxes`: the logins Dovecot takes (MailU's enabled ones).
 */
export async function startSubmission(hosts: SshHostSim, ip: string, o: { hostname: string; mailboxes: MailboxLogin[] }): Promise<void> {
  await run(
    hosts,
    ip,
    "installing rspamd, dovecot-core and swaks",
    `export DEBIAN_FRONTEND=noninteractive
dpkg -s ${SUBMISSION_PACKAGES.join(" ")} >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends ${SUBMISSION_PACKAGES.join(" ")} >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends ${SUBMISSION_PACKAGES.join(" ")}; }`,
  );
  const files = Object.entries(RSPAMD_FILES)
    .map(([name, text]) => `cat > /etc/rspamd/local.d/${name} <<'EOF'\n${text}EOF`)
    .join("\n");
  const vault = path.join(projectRoot, "dist", "scripts", "dev", "standins", "mailu-admin-vault.js");
  await run(
    hosts,
    ip,
    "configuring and starting the submission path",
    `set -e
ip addr replace ${SUBMISSION_ADDRESS}/24 dev ${MAILU_BRIDGE}
mkdir -p ${PF} ${DOVECOT} /etc/rspamd/local.d /run/rspamd
${files}
cat > ${PF}/main.cf <<'EOF'
${postfixMainCf(o.hostname)}EOF
${MASTER_CF}
${DOVECOT_CONF}
if ! ${portOpen("127.0.0.1", 8080)}; then setsid ${NODE} ${vault} 127.0.0.1 8080 </dev/null >/var/log/mailu-admin-vault.log 2>&1 & fi
chown _rspamd:_rspamd /run/rspamd
${portOpen("127.0.0.1", 11332)} || rspamd -u _rspamd -g _rspamd </dev/null >/var/log/rspamd-start.log 2>&1
mkdir -p /var/spool/postfix-mailu /var/lib/postfix-mailu && chown postfix /var/lib/postfix-mailu
postfix -c ${PF} check
postfix -c ${PF} status >/dev/null 2>&1 || postfix -c ${PF} start </dev/null >/dev/null 2>&1`,
  );
  await setLogins(hosts, ip, o.mailboxes);
  await run(
    hosts,
    ip,
    "waiting for rspamd's milter, the vault and the submission port",
    `${waitUntil(`${portOpen("127.0.0.1", 11332)} && ${portOpen("127.0.0.1", 8080)} && ${portOpen(SUBMISSION_ADDRESS, 587)}`, RELAY_CEILING_S * 3)}
${portOpen("127.0.0.1", 11332)} || { echo "rspamd's milter is not listening:"; tail -n 30 /var/log/rspamd/rspamd.log /var/log/rspamd-start.log; exit 1; }
${portOpen(SUBMISSION_ADDRESS, 587)} || { echo "submission is not listening:"; tail -n 30 /var/log/postfix-mailu.log; exit 1; }`,
  );
}

/**
 * Writes the logins Dovecot judges (each password hashed in the host, SHA512-CRYPT, read from stdin)
 * and the sender-login map (each mailbox sends as itself only), then (re)starts Dovecot.
 */
export async function setLogins(hosts: SshHostSim, ip: string, mailboxes: MailboxLogin[]): Promise<void> {
  const stdin = mailboxes.map((m) => `${m.address}\t${m.password}\n`).join("");
  await run(
    hosts,
    ip,
    "writing the mailboxes' logins",
    `set -e
umask 077
: > ${DOVECOT}/passwd.new
: > ${PF}/sender-login
while IFS="$(printf '\\t')" read -r address password; do
  printf '%s:{SHA512-CRYPT}%s\\n' "$address" "$(printf '%s' "$password" | openssl passwd -6 -stdin)" >> ${DOVECOT}/passwd.new
  printf '%s %s\\n' "$address" "$address" >> ${PF}/sender-login
done
chown root:dovecot ${DOVECOT}/passwd.new && chmod 0640 ${DOVECOT}/passwd.new && mv ${DOVECOT}/passwd.new ${DOVECOT}/passwd
chmod 0644 ${PF}/sender-login
postfix -c ${PF} reload >/dev/null 2>&1 || true
doveadm -c ${DOVECOT}/dovecot.conf stop >/dev/null 2>&1 || true
${waitUntil(`! [ -e /run/dovecot-mailu/master.pid ]`, 30)}
dovecot -c ${DOVECOT}/dovecot.conf </dev/null >/var/log/dovecot-mailu-start.log 2>&1 || { cat /var/log/dovecot-mailu-start.log; exit 1; }
${waitUntil("[ -S /var/spool/postfix-mailu/private/auth ]")}
[ -S /var/spool/postfix-mailu/private/auth ] || { echo "dovecot's auth socket did not appear:"; tail -n 30 /var/log/dovecot-mailu.log; exit 1; }`,
    stdin,
  );
}

export interface Submission {
  /** swaks' exit code: 0 sent; 28 authentication refused (swaks(1), EXIT CODES). */
  code: number;
  /** The server's last reply line to AUTH, or to the transaction. */
  reply: string;
}

/** Submits one message as `login` (From: and envelope sender its address) to the sink, over 587 with AUTH PLAIN. */
export async function submit(hosts: SshHostSim, ip: string, login: MailboxLogin, subject: string): Promise<Submission> {
  const config = `auth-user ${login.address}\nauth-password ${login.password}\n`;
  const r = await hosts.run(
    ip,
    `umask 077; f=$(mktemp); cat > "$f"
swaks --config "$f" --server ${SUBMISSION_ADDRESS}:587 --auth PLAIN --from ${login.address} --to sink@[${SINK}] \\
  --h-Subject "${subject}" --h-From "<${login.address}>" --body "A message submitted as ${login.address}." --silent 1 >/dev/null 2>/tmp/swaks.err
code=$?; rm -f "$f"; echo "$code"; tail -n 1 /tmp/swaks.err`,
    config,
  );
  const [code, ...rest] = r.stdout.split("\n");
  return { code: Number(code), reply: rest.join(" ").trim() };
}

export interface Received {
  sender: string;
  addr: string;
  helo: string;
  /** The message as the sink holds it (after smtp-sink's own X- lines), CRLF line ends. */
  message: string;
  /** Seconds from the start of the submission to the message at the sink, read in the host. */
  seconds?: number;
}

/**
 * Submits one message as the mailbox and waits (RELAY_CEILING_S) for it at the sink; the sink is
 * emptied first. Returns what the sink saw, or the submission's refusal.
 */
export async function submitAndReceive(hosts: SshHostSim, ip: string, login: MailboxLogin): Promise<Submission & { received?: Received }> {
  await run(hosts, ip, "emptying the sink", "rm -f /tmp/sink/*; date +%s.%N > /tmp/submit-start");
  const sent = await submit(hosts, ip, login, `from ${login.address}`);
  if (sent.code !== 0) return sent;
  const out = await run(
    hosts,
    ip,
    "reading the sink",
    `${waitUntil(`grep -qs '^X-Mail-Args: <${login.address}>' /tmp/sink/*`)}
f=$(grep -ls '^X-Mail-Args: <${login.address}>' /tmp/sink/* | head -n 1)
[ -n "$f" ] || exit 0
stat -c %.3Y "$f"
cat /tmp/submit-start
base64 -w0 "$f"`,
  );
  const [mtime, start, b64] = out.split("\n");
  if (!b64) return { ...sent, reply: `${sent.reply} (nothing at the sink after ${RELAY_CEILING_S} s)` };
  const raw = Buffer.from(b64, "base64").toString("utf8");
  const header = (name: string) => new RegExp(`^${name}: (.*)$`, "m").exec(raw)?.[1] ?? "";
  // smtp-sink's dump: its X-Client-Addr/X-Helo-Args/X-Mail-Args/X-Rcpt-Args lines, then the message as received.
  const lines = raw.split(/\r?\n/);
  const first = lines.findIndex((l) => !/^X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args):/.test(l));
  return {
    ...sent,
    received: {
      sender: /<([^>]*)>/.exec(header("X-Mail-Args"))?.[1] ?? "",
      addr: header("X-Client-Addr"),
      helo: header("X-Helo-Args"),
      message: lines.slice(first).join("\r\n"),
      seconds: Math.max(0, Number(mtime) - Number(start)),
    },
  };
}

interface MailAuth {
  authenticate(
    message: string,
    o: { ip: string; helo: string; sender: string; mta: string; resolver: (name: string, rr: string) => Promise<unknown> },
  ): Promise<{
    dkim: { results: Array<{ signingDomain?: string; selector?: string; status: { result: string; comment?: string } }> };
    spf: { status: { result: string } };
    dmarc: { status: { result: string } };
  }>;
}
const mailauth = require("mailauth") as MailAuth;

export interface Judgement {
  dkim: string;
  /** d= and s= of the signature mailauth judged. */
  signedBy: string;
  spf: string;
  dmarc: string;
  /** The PTR names of the address the message came from. */
  ptr: string[];
}

/** mailauth's verdicts on a received message, with DNS (DKIM TXT, SPF, DMARC, PTR) asked of `dnsServer` ("addr:port"). */
export async function judge(r: Received, dnsServer: string): Promise<Judgement> {
  const resolver = new dnsp.Resolver({ timeout: 5000, tries: 4 });
  resolver.setServers([dnsServer]);
  const a = await mailauth.authenticate(r.message, {
    ip: r.addr,
    helo: r.helo,
    sender: r.sender,
    mta: "sink.example.net",
    resolver: (name, rr) => resolver.resolve(name, rr as "TXT"),
  });
  const sig = a.dkim.results[0];
  return {
    dkim: sig?.status.result ?? "none",
    signedBy: sig ? `d=${sig.signingDomain} s=${sig.selector}` : "",
    spf: a.spf.status.result,
    dmarc: a.dmarc.status.result,
    ptr: await resolver.reverse(r.addr).catch(() => []),
  };
}

/** The sending IP the install's relay files route `domain` to (/etc/postfix/sender-transports, then master.cf's bind address). */
export async function routedIp(hosts: SshHostSim, ip: string, domain: string): Promise<string | undefined> {
  const map = hosts.file(ip, "/etc/postfix/sender-transports") ?? "";
  const transport = new RegExp(`^@${domain.replace(/\./g, "\\.")} (\\S+):$`, "m").exec(map)?.[1];
  const master = hosts.file(ip, "/etc/postfix/master.cf") ?? "";
  return transport ? new RegExp(`^${transport} [^\\n]*\\n  -o smtp_bind_address=(\\S+)`, "m").exec(master)?.[1] : undefined;
}
