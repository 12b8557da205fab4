/**
 * The implementation behind `DkimKey`: an RSA key pair made once per domain
 * and selector. The private half goes into state only as a secret (the
 * resource marks it so) and to the mail server; the public half goes to DNS.
 */
import type * as pulumi from "@pulumi/pulumi";
import { generateKeyPairSync } from "crypto";
import { z } from "zod";
import { checkInputs } from "../lib/dynamic";
import { DKIM_SELECTOR, HOSTNAME } from "../model/names";

const schema = z.object({
  domain: z.string().regex(HOSTNAME, "must be a lowercase domain name"),
  selector: z.string().regex(DKIM_SELECTOR, "must be a DKIM selector such as pm1"),
  bits: z.union([z.literal(1024), z.literal(2048), z.literal(4096)], { error: () => "must be 1024, 2048 or 4096" }).default(2048),
});
type Inputs = z.infer<typeof schema>;
interface Outputs extends Inputs {
  publicKeyBase64: string;
  privateKeyPem: string;
}

export const provider: pulumi.dynamic.ResourceProvider<Inputs, Outputs> = {
  async check(_olds, news) {
    return checkInputs(schema, `DkimKey ${news.selector}._domainkey.${news.domain}`, news);
  },
  async diff(_id, olds, news) {
    const replaces = (["domain", "selector", "bits"] as const).filter((k) => olds[k] !== news[k]);
    return { changes: replaces.length > 0, replaces };
  },
  async create(inputs) {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: inputs.bits });
    return {
      id: `${inputs.selector}._domainkey.${inputs.domain}`,
      outs: {
        ...inputs,
        publicKeyBase64: publicKey.export({ type: "spki", format: "der" }).toString("base64"),
        privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      },
    };
  },
  async read(id, props) {
    return { id, props };
  },
  async delete() {
    // The key lives only in state.
  },
};
