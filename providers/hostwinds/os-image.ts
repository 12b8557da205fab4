/**
 * The implementation behind `hostwinds.OsImage`: the image a server runs, bound to its Instance.
 * A change of image is an OS reinstall on the same server (`reinstall_instance`, ASSUMPTIONS:
 * reinstall): the server, its plan, its IPs and their warm-up stay; its disk is rebuilt. Nothing here
 * buys, replaces or releases anything. What must happen around the reinstall is the stack's: a
 * backup of MailU's data before it (an `ssh.Command` this resource depends on) and the server's SSH
 * steps again after it (they depend on this resource; the backup step restores the newest snapshot
 * on a disk with no MailU data before MailU starts): components/mail-server.ts, mailu-install.ts.
 *
 * Created, it records what the server runs (no reinstall) when the image asked for is the one the
 * server was bought with (`builtWith`), which is so for every new server and every server of a stack
 * made before this resource existed; a different image on create is a reinstall like an update's.
 */
import type * as pulumi from "@pulumi/pulumi";
import { checkInputs, compact, isUnknown } from "../lib/dynamic";
import { OsImageInputs, osImageInputsSchema } from "./inputs";
import { resolveImage } from "./instance";
import { splitName } from "./orders";
import { reinstallAndWait } from "./reinstall";
import { Session, configureSession, progress, session } from "./session";
import { UUID, type Instance as ApiInstance } from "./wire";

export interface OsImageOutputs extends OsImageInputs {
  /** The UUID of the image the server runs ("" when Hostwinds reports none and the config gave a name). */
  image: string;
  /** When this resource last reinstalled the server (ISO time), "" when it never did. */
  reinstalledAt: string;
}

const label = (i: Partial<OsImageInputs>) =>
  i.tenant && i.name && !isUnknown(i.tenant) && !isUnknown(i.name) ? `hostwinds.OsImage ${i.tenant}/${i.name}` : "hostwinds.OsImage";

/** What a reinstall does, for the preview (and the run). */
export function describeReinstall(i: Partial<OsImageInputs>, from: string, id?: string): string {
  return (
    `${label(i)}: the image changes from ${from} to ${i.template}: server ${id ?? i.serviceId} is reinstalled in place (Hostwinds' reinstall_instance): ` +
    "its disk is wiped and rebuilt from the new image; the server, its plan, its main and sending IPs and their warm-up stay, nothing is bought or released. " +
    "Before it, MailU's data is backed up (restic, the server's backup step); after it, the server's SSH steps run again and the newest snapshot is restored before MailU starts. " +
    "Mail is not accepted while it rebuilds (senders retry). ASSUMPTIONS: reinstall"
  );
}

/** The server, checked to be this stack's (its mark), before anything is done to it. */
async function ownServer(s: Session, inputs: OsImageInputs, doing: string): Promise<ApiInstance> {
  const api = await s.instance(inputs.serviceId, true);
  if (!api) {
    await s.confirmAccess(`${label(inputs)}: ${doing} server ${inputs.serviceId}`);
    throw new Error(
      `${label(inputs)}: server ${inputs.serviceId} is not in the account; run \`pulumi refresh\`, then \`pulumi up\`. Nothing was reinstalled.`,
    );
  }
  const mark = splitName(api.srvrname).mark;
  if (inputs.serverMark && mark !== inputs.serverMark)
    throw new Error(
      `${label(inputs)}: refusing to ${doing} server ${inputs.serviceId} ("${api.srvrname}"): it does not carry this stack's mark ${inputs.serverMark}. ` +
        "Run `pulumi up` first (the Instance marks its server again), or check the server id. Nothing was reinstalled.",
    );
  return api;
}

/** The reinstall: same server, new disk from `uuid`; says what changed that should not have. */
async function reinstall(s: Session, inputs: OsImageInputs, api: ApiInstance, uuid: string, from: string): Promise<ApiInstance> {
  progress(describeReinstall(inputs, from, String(api.serviceid)));
  s.changed(api.serviceid);
  const back = await reinstallAndWait(s.client, api.serviceid, uuid, {
    timeoutMs: s.settings.buildTimeoutMs,
    pollMs: s.settings.pollIntervalMs,
    log: progress,
  });
  s.changed(api.serviceid);
  if (back.main_ip !== api.main_ip)
    progress(
      `${label(inputs)}: server ${api.serviceid} came back at ${back.main_ip}, not ${api.main_ip} (ASSUMPTIONS: reinstall keeps IPs, refuted here): run \`pulumi up --refresh\` so DNS and the SSH steps follow`,
    );
  if (api.password && back.password && back.password !== api.password)
    progress(
      `${label(inputs)}: server ${api.serviceid} has a new root password after the reinstall (ASSUMPTIONS: reinstall keeps the root password, refuted here): ` +
        "if its SSH steps fail to log in, run `pulumi up --refresh` (it reads the new one)",
    );
  progress(`${label(inputs)}: server ${api.serviceid} reinstalled from ${inputs.template} (${uuid}); same server, main IP ${back.main_ip}`);
  return back;
}

const outputs = (inputs: OsImageInputs, image: string, reinstalledAt: string): OsImageOutputs =>
  compact({ ...inputs, image, reinstalledAt });

export const provider: pulumi.dynamic.ResourceProvider<OsImageInputs, OsImageOutputs> = {
  async configure(req) {
    configureSession((key) => req.config.get(key));
  },

  async check(olds, news) {
    const r = checkInputs(osImageInputsSchema, label(news), news);
    // A new record of an image other than the one the server was bought with is a reinstall: said in the preview.
    const creating = !(olds as Partial<OsImageInputs>).template;
    if (creating && !r.failures && !isUnknown(news.template) && !isUnknown(news.builtWith) && news.template !== news.builtWith)
      progress(describeReinstall(news, String(news.builtWith)));
    return r;
  },

  async diff(id, olds, news) {
    // Another server (the Instance was replaced, as allowReplace allows) is another record.
    const replaces = isUnknown(news.serviceId) || olds.serviceId !== news.serviceId ? ["serviceId"] : [];
    // A UUID that is the image it runs already is no reinstall; a name is settled in update (no read in a preview).
    const sameImage = news.template === olds.template || (UUID.test(String(news.template)) && news.template === olds.image);
    if (!replaces.length && !sameImage) progress(describeReinstall(news, olds.template, id));
    const stored = (["builtWith", "serverMark", "name", "stack"] as const).some((k) => olds[k] !== news[k]);
    return { changes: replaces.length > 0 || !sameImage || stored, replaces, deleteBeforeReplace: false };
  },

  async create(inputs) {
    const s = session();
    const api = await ownServer(s, inputs, "record the image of");
    const now = api.template_uuid ?? (UUID.test(inputs.builtWith) ? inputs.builtWith : "");
    if (inputs.template === inputs.builtWith) return { id: String(inputs.serviceId), outs: outputs(inputs, now, "") };
    const uuid = await resolveImage(s, label(inputs), inputs.template, "Nothing was reinstalled.");
    if (uuid === now) return { id: String(inputs.serviceId), outs: outputs(inputs, now, "") };
    const back = await reinstall(s, inputs, api, uuid, inputs.builtWith);
    return { id: String(inputs.serviceId), outs: outputs(inputs, back.template_uuid ?? uuid, new Date().toISOString()) };
  },

  async read(id, stored) {
    const props = stored as OsImageOutputs;
    const api = await session().instance(Number(id));
    if (!api) return { id: "" } as never;
    return { id, props: { ...props, image: api.template_uuid ?? props.image } };
  },

  async update(_id, olds, news) {
    const s = session();
    if (news.template === olds.template) return { outs: outputs(news, olds.image, olds.reinstalledAt) };
    const api = await ownServer(s, news, "reinstall");
    const uuid = await resolveImage(s, label(news), news.template, "Nothing was reinstalled.");
    if (uuid === (api.template_uuid ?? olds.image)) {
      progress(`${label(news)}: ${news.template} is the image server ${api.serviceid} runs already (${uuid}); nothing reinstalled`);
      return { outs: outputs(news, uuid, olds.reinstalledAt) };
    }
    const back = await reinstall(s, news, api, uuid, olds.template);
    return { outs: outputs(news, back.template_uuid ?? uuid, new Date().toISOString()) };
  },

  // Forgetting the record does nothing to the server (its Instance terminates it, or keeps it).
  async delete() {},
};
