/**
 * Stand-in for the servers Hostwinds hands out: each is an SSH server (ssh2)
 * on its own loopback address (127.77.x.y, port 22), logging in `root` with
 * the root password the Hostwinds stand-in gave the server (or an authorized
 * key), and running each command with a real bash in a sandbox: a private
 * mount namespace whose root is an overlay of this machine's `/`, so scripts
 * write /mailu, /etc/netplan and the rest as on a real server while every
 * change lands in the host's folder (`<dir>/<ip>/upper`). `docker`,
 * `netplan`, `iptables` and `systemctl` there are the stand-in tools of
 * host-tools.ts. Needs root (mount namespaces, overlayfs, port 22).
 *
 * Wire it to the Hostwinds stand-in with `new HostwindsSim({ hosts: sshHosts })`:
 * a server that finishes building gets a host, and its main IP is the host's address.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { timingSafeEqual } from "crypto";
import { AuthContext, Connection, ParsedKey, Server, ServerChannel, utils } from "ssh2";
import { CALLS_LOG, STATE_DIR, ToolCall } from "./host-tools";
import { projectRoot } from "../../cli/engine/pulumi-env";
export interface SshHostSimOptions {
  /** Where host sandboxes live (one folder per address). */
  dir: string;
  /** Default 22. */
  port?: number;
  /** First two octets of the loopback addresses handed out (default $PENGUINMAILS_SSH_HOST_PREFIX, else 127.77; separate checkouts testing at once use separate prefixes). */
  addressPrefix?: string;
  /** OpenSSH public key lines accepted for root on every host. */
  authorizedKeys?: string[];
}

/** The side the Hostwinds stand-in calls: a built server gets a host; a terminated one loses it. */
export interface ServerHosts {
  addHost(serviceId: number, rootPassword: string): string;
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
  serviceId: number;
  password: string;
  root: string;
  server: Server;
  listening: Promise<void>;
  ns?: ChildProcess;
  nsReady?: Promise<number>;
}

const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const TOOLS = ["docker", "netplan", "iptables", "systemctl"];

export class SshHostSim implements ServerHosts {
  private hosts = new Map<string, Host>();
  private next = 2;
  private hostKey = utils.generateKeyPairSync("ed25519").private;
  private keys: ParsedKey[];
  /** Every command run, in order. */
  readonly execs: ExecRecord[] = [];

  constructor(private o: SshHostSimOptions) {
    this.keys = (o.authorizedKeys ?? []).map((k) => {
      const parsed = utils.parseKey(k);
      if (parsed instanceof Error) throw new Error(`authorized key is not an OpenSSH public key: ${parsed.message}`);
      return Array.isArray(parsed) ? parsed[0] : parsed;
    });
  }

  /** Whether this machine can run the stand-in (root, unshare, overlayfs), and if not, why. */
  static unavailableReason(): string | undefined {
    if (process.getuid?.() !== 0) return "the SSH-host stand-in needs root (mount namespaces, overlayfs, port 22)";
    try {
      execFileSync("unshare", ["-m", "--propagation", "private", "true"], { stdio: "ignore" });
    } catch {
      return "the SSH-host stand-in needs `unshare -m` (util-linux) and permission to create mount namespaces";
    }
    return undefined;
  }

  addHost(serviceId: number, rootPassword: string): string {
    const n = this.next++;
    const ip = `${this.o.addressPrefix ?? process.env.PENGUINMAILS_SSH_HOST_PREFIX ?? "127.77"}.${Math.floor(n / 250)}.${(n % 250) + 1}`;
    const root = path.join(this.o.dir, ip);
    fs.rmSync(root, { recursive: true, force: true });
    for (const d of ["upper", "work", "merged"]) fs.mkdirSync(path.join(root, d), { recursive: true });
    this.installTools(path.join(root, "upper"));
    const server = new Server({ hostKeys: [this.hostKey] }, (client) => this.serve(host, client));
    const host: Host = {
      ip,
      serviceId,
      password: rootPassword,
      root,
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
    h.ns?.kill("SIGKILL");
  }

  reinstallHost(ip: string): void {
    const h = this.hosts.get(ip);
    if (!h) return;
    h.ns?.kill("SIGKILL");
    h.ns = undefined;
    h.nsReady = undefined;
    for (const d of ["upper", "work"]) {
      fs.rmSync(path.join(h.root, d), { recursive: true, force: true });
      fs.mkdirSync(path.join(h.root, d), { recursive: true });
    }
    this.installTools(path.join(h.root, "upper"));
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

  async stop(): Promise<void> {
    for (const ip of [...this.hosts.keys()]) this.removeHost(ip);
  }

  private installTools(upper: string): void {
    const sbin = path.join(upper, "usr/local/sbin");
    fs.mkdirSync(sbin, { recursive: true });
    // The compiled tools, also when this file runs from source (tests).
    const impl = path.join(projectRoot, "dist", "scripts", "dev", "standins", "host-tools.js");
    for (const t of TOOLS) fs.writeFileSync(path.join(sbin, t), `#!/bin/sh\nexec ${process.execPath} ${impl} ${t} "$@"\n`, { mode: 0o755 });
  }

  /** One long-lived mount namespace per host: every command enters it, so all see the same files. */
  private namespace(h: Host): Promise<number> {
    if (h.nsReady) return h.nsReady;
    const m = path.join(h.root, "merged");
    const setup = [
      `mount -t overlay overlay -o lowerdir=/,upperdir=${h.root}/upper,workdir=${h.root}/work ${m}`,
      ...["proc", "dev", "sys"].map((d) => `mount --rbind /${d} ${m}/${d}`),
      "echo ready",
      "exec sleep infinity",
    ].join(" && ");
    const ns = spawn("unshare", ["-m", "--propagation", "private", "sh", "-c", setup], { stdio: ["ignore", "pipe", "pipe"] });
    h.ns = ns;
    h.nsReady = new Promise((resolve, reject) => {
      let errText = "";
      ns.stderr!.on("data", (d: Buffer) => {
        errText += d.toString();
      });
      ns.stdout!.once("data", () => resolve(ns.pid!));
      ns.once("exit", (code) => reject(new Error(`host ${h.ip}: sandbox setup failed (${code}): ${errText.trim()}`)));
    });
    return h.nsReady;
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
    const pid = await this.namespace(h);
    const p = spawn(
      "nsenter",
      ["-t", String(pid), "-m", "--", "chroot", path.join(h.root, "merged"), "/bin/bash", "-c", `cd /root 2>/dev/null || cd /; ${command}`],
      {
        env: { PATH: HOST_PATH, HOME: "/root", USER: "root", LOGNAME: "root", SHELL: "/bin/bash", LANG: "C.UTF-8" },
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
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
