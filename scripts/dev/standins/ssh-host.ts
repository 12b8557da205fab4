/**
 * Stand-in for the servers Hostwinds hands out: each is an SSH server (ssh2)
 * on its own loopback address (127.N.x.y, port 22: see sshHostPrefix), logging in `root` with
 * the root password the Hostwinds stand-in gave the server (or an authorized
 * key), and running each command with a real bash in a real Debian system:
 * a private mount namespace whose root is an overlay of a clean Debian root
 * filesystem built by debootstrap (scripts/dev/debian-rootfs.sh), and a
 * network namespace of its own whose NIC has Debian's predictable name
 * (`ens3`, a veth), the main IP, and the default route. So the install runs
 * Debian's apt-get (against Debian's archive, through ./apt-proxy.ts), dpkg,
 * ifupdown, iproute2, iptables and Postfix for real, while every change lands
 * in the host's folder (`<dir>/<ip>/upper`). Only what needs a daemon that
 * cannot run here stays a stand-in (host-tools.ts): `docker`/`docker-compose`
 * past their own config validation (no registry images, no Docker daemon) and
 * `systemctl` (no systemd; services are kept from starting by Debian's
 * policy-rc.d convention). Needs root (namespaces, overlayfs, port 22).
 *
 * Wire it to the Hostwinds stand-in with `new HostwindsSim({ hosts: sshHosts })`:
 * a server that finishes building gets a host, and its main IP is the host's address.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { createHash, timingSafeEqual } from "crypto";
import { AuthContext, Connection, ParsedKey, Server, ServerChannel, utils } from "ssh2";
import { CALLS_LOG, STATE_DIR, ToolCall } from "./host-tools";
import { parsableHostKey } from "./host-key";
import * as net from "net";
import { APT_PROXY_PORT, AptProxy, loopbackBridge } from "./apt-proxy";
import { projectRoot } from "../../lib/engine/pulumi-env";
export interface SshHostSimOptions {
  /** Where host sandboxes live (one folder per address). */
  dir: string;
  /** Default 22. */
  port?: number;
  /** First two octets of the loopback addresses handed out (default: sshHostPrefix()). */
  addressPrefix?: string;
  /** OpenSSH public key lines accepted for root on every host. */
  authorizedKeys?: string[];
  /** The Debian root filesystem (default: scripts/dev/debian-rootfs.sh builds or finds it for `suite`). */
  rootfs?: string;
  /** The Debian suite the hosts run (default DEFAULT_SUITE: trixie, the image tenants get by default). */
  suite?: string;
  /** The NIC's name on every host (default ens3: Debian's predictable name on a KVM server). */
  nic?: string;
  /**
   * Debian packages every host holds beyond the clean system from its first boot: a test's own judge
   * (never what the install adds, which it installs with its own apt). They come from a root filesystem
   * built once with them (scripts/dev/debian-rootfs-with.sh), not from apt at every run.
   */
  packages?: string[];
}

/**
 * The first two octets of the hosts' loopback addresses: $PENGUINMAILS_SSH_HOST_PREFIX when set,
 * else 127.N with N from a hash of the checkout's path and, under Jest, the worker's number
 * (JEST_WORKER_ID: Jest's workers of one checkout get consecutive N, so test files running at once never
 * meet), otherwise the process id, so two checkouts (or two processes of one) testing at once do not
 * hand out the same address (every host listens on port 22). N is never 0 or 1 (127.0.0.1 and the
 * machine's own names live there) nor 255 (the blocklist stand-in's "unknown" answers, 127.255.255.x).
 * Two checkouts still meet on a prefix 1 time in 253: the override separates them.
 */
export function sshHostPrefix(env: NodeJS.ProcessEnv = process.env, checkout = projectRoot, pid = process.pid): string {
  if (env.PENGUINMAILS_SSH_HOST_PREFIX) return env.PENGUINMAILS_SSH_HOST_PREFIX;
  const worker = Number(env.JEST_WORKER_ID);
  const h = createHash("sha256")
    .update(worker ? checkout : `${checkout}\0${pid}`)
    .digest()
    .readUInt32BE(0);
  return `127.${2 + ((h + (worker || 0)) % 253)}`;
}

const netNamespace = (pid: number): string | undefined => {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
};

/**
 * The suite of the hosts: Debian 13 "trixie", the image a server gets when its config names none
 * (providers/model/tenant.ts DEFAULT_IMAGE); PENGUINMAILS_DEBIAN_SUITE=bookworm runs them on Debian 12.
 */
export const DEFAULT_SUITE = process.env.PENGUINMAILS_DEBIAN_SUITE || "trixie";

/** The suite of each Debian image the Hostwinds catalogue names (providers/hostwinds/catalog.json). */
const IMAGE_SUITES: Record<string, string> = { "debian-12": "bookworm", "debian-13": "trixie" };

/** The clean Debian root filesystem, built once per machine (about a minute cold; progress on stderr). */
export function debianRootfs(suite = DEFAULT_SUITE): string {
  return execFileSync("bash", [path.join(projectRoot, "scripts", "dev", "debian-rootfs.sh"), "--suite", suite, "--print-dir"], {
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
  }).trim();
}

/** The clean Debian root filesystem plus `packages`, built once per machine and package list. */
export function debianRootfsWith(suite: string, packages: string[]): string {
  return execFileSync(
    "bash",
    [path.join(projectRoot, "scripts", "dev", "debian-rootfs-with.sh"), "--suite", suite, "--packages", packages.join(","), "--print-dir"],
    { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" },
  ).trim();
}

/** The side the Hostwinds stand-in calls: a built server gets a host; a terminated one loses it. */
export interface ServerHosts {
  /** `image`: the image's slug (debian-12, debian-13); the host runs that Debian suite. */
  addHost(serviceId: number, rootPassword: string, image?: string): string;
  removeHost(ip: string): void;
  /** The server's OS was reinstalled: same address and password, a fresh disk. */
  reinstallHost?(ip: string): void;
}

export interface ExecRecord {
  ip: string;
  command: string;
  code: number;
}

interface Host {
  ip: string;
  /** The Debian root filesystem under its overlay. */
  rootfs: string;
  serviceId: number;
  password: string;
  root: string;
  server: Server;
  listening: Promise<void>;
  ns?: ChildProcess;
  nsReady?: Promise<number>;
  bridge?: ChildProcess;
  forwards: ChildProcess[];
}

const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Where the stand-in tools' node is, inside a host. */
const STANDIN_NODE = "/usr/local/lib/penguinmails-standin/node";
/** The stand-in tools, ahead of the real ones on PATH (/usr/local/sbin). */
const TOOLS = ["docker", "docker-compose", "systemctl"];

export class SshHostSim implements ServerHosts {
  private hosts = new Map<string, Host>();
  private next = 2;
  private prefix?: string;
  private hostKey = parsableHostKey().private;
  private keys: ParsedKey[];
  /** Root filesystems by suite, built or found once. */
  private rootfses = new Map<string, string>();
  /** The first root filesystem used: the archive's hosts for apt come from its sources. */
  private rootfs?: string;
  private proxy?: Promise<AptProxy>;
  /** Loopback ports of this machine that hosts reach at 127.0.0.1:<port> (e.g. a backup target): port → Unix socket. */
  private forwarded = new Map<number, { socket: string; server: net.Server }>();
  /** Every command run, in order. */
  readonly execs: ExecRecord[] = [];
  readonly nic: string;

  constructor(private o: SshHostSimOptions) {
    this.keys = (o.authorizedKeys ?? []).map((k) => {
      const parsed = utils.parseKey(k);
      if (parsed instanceof Error) throw new Error(`authorized key is not an OpenSSH public key: ${parsed.message}`);
      return Array.isArray(parsed) ? parsed[0] : parsed;
    });
    this.nic = o.nic ?? "ens3";
    // The clean root filesystem is found now (built when missing: about a minute cold, synchronously),
    // before any server is asked for. Built inside addHost, it stalled the process that also answers
    // the engine's API calls: a fresh machine's first demo failed on get_instance timeouts.
    const suite = o.suite ?? DEFAULT_SUITE;
    if (!o.rootfs && !SshHostSim.unavailableReason()) this.rootfses.set(suite, this.suiteRootfs(suite));
  }

  /** Whether this machine can run the stand-in (root, unshare, overlayfs), and if not, why: found
   *  once per process (finding it spawns `unshare`; every stand-in, demo and test file asks). */
  static unavailableReason(): string | undefined {
    if (SshHostSim.unavailable === null) SshHostSim.unavailable = SshHostSim.whyUnavailable();
    return SshHostSim.unavailable;
  }
  private static unavailable: string | undefined | null = null;
  private static whyUnavailable(): string | undefined {
    if (process.getuid?.() !== 0) return "the SSH-host stand-in needs root (mount namespaces, overlayfs, port 22)";
    try {
      execFileSync("unshare", ["-m", "-n", "--propagation", "private", "true"], { stdio: "ignore" });
    } catch {
      return "the SSH-host stand-in needs `unshare -m -n` (util-linux) and permission to create mount and network namespaces";
    }
    return undefined;
  }

  private suiteRootfs(suite: string): string {
    return this.o.packages?.length ? debianRootfsWith(suite, this.o.packages) : debianRootfs(suite);
  }

  addHost(serviceId: number, rootPassword: string, image?: string): string {
    const n = this.next++;
    this.prefix ??= this.o.addressPrefix ?? sshHostPrefix();
    const ip = `${this.prefix}.${Math.floor(n / 250)}.${(n % 250) + 1}`;
    const root = path.join(this.o.dir, ip);
    fs.rmSync(root, { recursive: true, force: true });
    for (const d of ["upper", "work", "merged"]) fs.mkdirSync(path.join(root, d), { recursive: true });
    const suite = (image && IMAGE_SUITES[image]) ?? this.o.suite ?? DEFAULT_SUITE;
    const rootfs = this.o.rootfs ?? this.rootfses.get(suite) ?? this.suiteRootfs(suite);
    this.rootfses.set(suite, rootfs);
    this.rootfs ??= rootfs;
    this.prepare(path.join(root, "upper"), ip);
    const server = new Server({ hostKeys: [this.hostKey] }, (client) => this.serve(host, client));
    const host: Host = {
      ip,
      rootfs,
      serviceId,
      password: rootPassword,
      root,
      forwards: [],
      server,
      listening: new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(this.o.port ?? 22, ip, () => resolve());
      }),
    };
    host.listening.catch(() => undefined);
    this.hosts.set(ip, host);
    return ip;
  }

  removeHost(ip: string): void {
    const h = this.hosts.get(ip);
    if (!h) return;
    this.hosts.delete(ip);
    h.server.close();
    // Whatever still runs in the host's network namespace (a Postfix a test started, the sink, the bridge) goes with it.
    const ns = h.ns?.pid ? netNamespace(h.ns.pid) : undefined;
    if (ns)
      for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)))
        if (Number(pid) !== process.pid && netNamespace(Number(pid)) === ns) {
          try {
            process.kill(Number(pid), "SIGKILL");
          } catch {
            // already gone
          }
        }
    h.bridge?.kill("SIGKILL");
    for (const f of h.forwards) f.kill("SIGKILL");
    h.ns?.kill("SIGKILL");
  }

  /** The server's OS reinstalled: same address and password, a fresh disk (the clean Debian system again). */
  reinstallHost(ip: string): void {
    const h = this.hosts.get(ip);
    if (!h) return;
    h.bridge?.kill("SIGKILL");
    h.bridge = undefined;
    for (const f of h.forwards) f.kill("SIGKILL");
    h.forwards = [];
    h.ns?.kill("SIGKILL");
    h.ns = undefined;
    h.nsReady = undefined;
    for (const d of ["upper", "work"]) {
      fs.rmSync(path.join(h.root, d), { recursive: true, force: true });
      fs.mkdirSync(path.join(h.root, d), { recursive: true });
    }
    this.prepare(path.join(h.root, "upper"), ip);
  }

  /**
   * Lets every host reach a server on this machine's 127.0.0.1:<port> at its own 127.0.0.1:<port> (a host's
   * network namespace has no route out): for stand-ins a server would reach over the internet.
   */
  async forwardLoopback(port: number): Promise<void> {
    if (this.forwarded.has(port)) return;
    const socket = path.join(this.o.dir, `fwd-${process.pid}-${port}.sock`);
    fs.mkdirSync(this.o.dir, { recursive: true });
    fs.rmSync(socket, { force: true });
    const server = net.createServer((c) => {
      const u = net.connect(port, "127.0.0.1");
      c.pipe(u).pipe(c);
      c.on("error", () => u.destroy());
      u.on("error", () => c.destroy());
    });
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(socket, () => resolve()));
    this.forwarded.set(port, { socket, server });
    for (const h of this.hosts.values()) if (h.ns?.pid && h.nsReady) h.forwards.push(loopbackBridge(await h.nsReady, port, socket));
  }

  /** Resolves once every host handed out so far is listening (rejects with the reason one could not). */
  async ready(): Promise<void> {
    await Promise.all([...this.hosts.values()].map((h) => h.listening));
  }

  addresses(): string[] {
    return [...this.hosts.keys()];
  }

  /** A file as the host sees it now (changed files live in the overlay's upper folder). */
  file(ip: string, p: string): string | undefined {
    const upper = path.join(this.o.dir, ip, "upper", p);
    if (fs.existsSync(upper)) return fs.readFileSync(upper, "utf8");
    return undefined;
  }

  /** The stand-in tools' calls on a host, oldest first. */
  calls(ip: string, tool?: string): ToolCall[] {
    const log = this.file(ip, CALLS_LOG);
    const all = (log ?? "")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as ToolCall);
    return tool ? all.filter((c) => c.tool === tool) : all;
  }

  /** A stand-in tool's state on a host (compose-mailu, netplan, iptables, systemd). */
  state<T>(ip: string, name: string): T | undefined {
    const s = this.file(ip, path.join(STATE_DIR, `${name}.json`));
    return s === undefined ? undefined : (JSON.parse(s) as T);
  }

  /** Whether MailU's stand-in on a host holds a user or alias for the address: what its Postfix takes mail for. */
  mailuHasAddress(ip: string, address: string): boolean {
    const st = this.state<{ users: Record<string, unknown>; aliases?: Record<string, string[]> }>(ip, "compose-mailu");
    return !!st && (address in st.users || address in (st.aliases ?? {}));
  }

  async stop(): Promise<void> {
    for (const ip of [...this.hosts.keys()]) this.removeHost(ip);
    if (this.proxy) await (await this.proxy).stop();
    for (const { server, socket } of this.forwarded.values()) {
      server.close();
      fs.rmSync(socket, { force: true });
    }
    this.forwarded.clear();
  }

  /** Runs a command on a host as its SSH clients do (tests use it to look around and to start Postfix). */
  async run(ip: string, command: string, stdin = ""): Promise<{ code: number; stdout: string; stderr: string }> {
    const h = this.hosts.get(ip);
    if (!h) throw new Error(`no stand-in host at ${ip}`);
    const p = await this.spawnIn(h, command);
    let stdout = "";
    let stderr = "";
    p.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    p.stdin!.on("error", () => undefined);
    p.stdin!.end(stdin);
    const code = await new Promise<number>((resolve) => p.on("close", (c) => resolve(c ?? 255)));
    return { code, stdout, stderr };
  }

  /**
   * What the stand-in adds to the clean Debian system, in the overlay's upper folder: the stand-in
   * tools, Debian's policy-rc.d convention that keeps package scripts from starting services (there is
   * no systemd), apt's way to the archive, a resolver that fails at once, and the network config a
   * Hostwinds image ships with.
   */
  private prepare(upper: string, ip: string): void {
    const write = (p: string, content: string, mode = 0o644) => {
      fs.mkdirSync(path.join(upper, path.dirname(p)), { recursive: true });
      fs.writeFileSync(path.join(upper, p), content, { mode });
    };
    // The compiled tools, also when this file runs from source (tests).
    const impl = path.join(projectRoot, "dist", "scripts", "dev", "standins", "host-tools.js");
    for (const t of TOOLS) write(`/usr/local/sbin/${t}`, `#!/bin/sh\nexec ${STANDIN_NODE} ${impl} ${t} "$@"\n`, 0o755);
    // invoke-rc.d(8) / policy-rc.d: exit 101 = action forbidden.
    write("/usr/sbin/policy-rc.d", "#!/bin/sh\n# penguinmails stand-in: no services start here (no systemd)\nexit 101\n", 0o755);
    write("/etc/apt/apt.conf.d/00penguinmails-standin-proxy", `Acquire::http::Proxy "http://127.0.0.1:${APT_PROXY_PORT}";\n`);
    // The host has no network, so no resolver answers. The clean system's resolv.conf names the build
    // machine's, which the host's default route sends into the veth that leads nowhere: every lookup
    // waited out its timeouts (a reverse lookup 6 s, a name 12 s: Postfix's smtpd on each connection,
    // swaks). On 127.0.0.1 nothing listens on port 53, so a lookup fails at once, as on a server whose
    // resolver refuses; names the tests need are numeric or in /etc/hosts.
    write("/etc/resolv.conf", "# penguinmails stand-in: the host has no network; lookups fail at once\nnameserver 127.0.0.1\n");
    write(
      "/etc/network/interfaces.d/50-cloud-init",
      `# the server's main IP, as the provider's image configures it\nauto ${this.nic}\niface ${this.nic} inet static\n    address ${ip}/32\n`,
    );
  }

  /** The archive hosts named in the root filesystem's apt sources: the only hosts the proxy fetches from. */
  private aptProxy(): Promise<AptProxy> {
    this.proxy ??= (() => {
      // One-line sources.list, or deb822 files in sources.list.d (what newer debootstraps write).
      const listed = [path.join(this.rootfs!, "etc/apt/sources.list")];
      const d = path.join(this.rootfs!, "etc/apt/sources.list.d");
      if (fs.existsSync(d)) listed.push(...fs.readdirSync(d).map((f) => path.join(d, f)));
      const sources = listed
        .filter((f) => fs.existsSync(f))
        .map((f) => fs.readFileSync(f, "utf8"))
        .join("\n");
      const hosts = [...sources.matchAll(/https?:\/\/([^/\s]+)/g)].map((m) => m[1]);
      const cache = path.join(path.dirname(path.dirname(this.rootfs!)), "apt-archive");
      return new AptProxy(path.join(this.o.dir, `apt-proxy-${process.pid}.sock`), hosts, cache).start();
    })();
    return this.proxy;
  }

  /**
   * One long-lived mount + network namespace per host: every command enters it, so all see the same
   * files and interfaces. The NIC is one end of a veth pair (the other end, `<nic>-up`, stands for
   * the provider's network and leads nowhere): nothing a host sends leaves its namespace.
   */
  private namespace(h: Host): Promise<number> {
    if (h.nsReady) return h.nsReady;
    const m = path.join(h.root, "merged");
    const nic = this.nic;
    // The tools' shims run this project's compiled code (at its own path) with this node (at STANDIN_NODE).
    const binds = [
      `mkdir -p ${m}${projectRoot} ${m}${path.dirname(STANDIN_NODE)}`,
      `mount --bind -o ro ${projectRoot} ${m}${projectRoot}`,
      `touch ${m}${STANDIN_NODE}`,
      `mount --bind -o ro ${fs.realpathSync(process.execPath)} ${m}${STANDIN_NODE}`,
    ];
    const setup = [
      `mount -t overlay overlay -o lowerdir=${h.rootfs},upperdir=${h.root}/upper,workdir=${h.root}/work ${m}`,
      ...["proc", "dev"].map((d) => `mount --rbind /${d} ${m}/${d}`),
      `mount -t sysfs sysfs ${m}/sys`,
      `mount -t tmpfs tmpfs ${m}/run`,
      ...binds,
      "ip link set lo up",
      `ip link add ${nic} type veth peer name ${nic}-up`,
      `ip addr add ${h.ip}/32 dev ${nic}`,
      `ip link set ${nic}-up up`,
      `ip link set ${nic} up`,
      `ip route add default dev ${nic}`,
      "echo ready",
      "exec sleep infinity",
    ].join(" && ");
    const ns = spawn("unshare", ["-m", "-n", "--propagation", "private", "sh", "-c", setup], { stdio: ["ignore", "pipe", "pipe"] });
    h.ns = ns;
    h.nsReady = new Promise<number>((resolve, reject) => {
      let errText = "";
      ns.stderr!.on("data", (d: Buffer) => {
        errText += d.toString();
      });
      ns.stdout!.once("data", () => resolve(ns.pid!));
      ns.once("exit", (code) => reject(new Error(`host ${h.ip}: sandbox setup failed (${code}): ${errText.trim()}`)));
    }).then(async (pid) => {
      h.bridge = (await this.aptProxy()).bridge(pid);
      for (const [port, { socket }] of this.forwarded) h.forwards.push(loopbackBridge(pid, port, socket));
      return pid;
    });
    return h.nsReady;
  }

  private async spawnIn(h: Host, command: string): Promise<ChildProcess> {
    const pid = await this.namespace(h);
    return spawn(
      "nsenter",
      [
        "-t",
        String(pid),
        "-m",
        "-n",
        "--",
        "chroot",
        path.join(h.root, "merged"),
        "/bin/bash",
        "-c",
        `cd /root 2>/dev/null || cd /; ${command}`,
      ],
      {
        env: { PATH: HOST_PATH, HOME: "/root", USER: "root", LOGNAME: "root", SHELL: "/bin/bash", LANG: "C.UTF-8" },
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
  }

  private serve(h: Host, client: Connection): void {
    client.on("authentication", (ctx: AuthContext) => {
      if (ctx.username !== "root") return ctx.reject(["password", "publickey"]);
      if (ctx.method === "password") {
        const a = Buffer.from(ctx.password);
        const b = Buffer.from(h.password);
        return a.length === b.length && timingSafeEqual(a, b) ? ctx.accept() : ctx.reject(["password", "publickey"]);
      }
      if (ctx.method === "publickey") {
        const key = this.keys.find((k) => k.type === ctx.key.algo && k.getPublicSSH().equals(ctx.key.data));
        if (!key) return ctx.reject(["password", "publickey"]);
        if (!ctx.signature) return ctx.accept(); // the client asks whether the key would do; it signs next
        return key.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) ? ctx.accept() : ctx.reject(["password", "publickey"]);
      }
      return ctx.reject(["password", "publickey"]);
    });
    client.on("ready", () => {
      client.on("session", (acceptSession) => {
        const session = acceptSession();
        session.on("exec", (accept, _reject, info) => {
          const ch = accept();
          this.exec(h, info.command, ch).catch((e: Error) => {
            ch.stderr.write(`${e.message}\n`);
            ch.exit(255);
            ch.end();
          });
        });
      });
    });
    client.on("error", () => undefined); // a client that drops the connection is not our failure
  }

  private async exec(h: Host, command: string, ch: ServerChannel): Promise<void> {
    const p = await this.spawnIn(h, command);
    ch.pipe(p.stdin!);
    p.stdin!.on("error", () => undefined); // the script may exit before reading all of stdin
    p.stdout!.pipe(ch, { end: false });
    p.stderr!.pipe(ch.stderr, { end: false });
    p.on("close", (code) => {
      this.execs.push({ ip: h.ip, command, code: code ?? 255 });
      ch.exit(code ?? 255);
      ch.end();
    });
  }
}
