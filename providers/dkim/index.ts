/** `DkimKey`: a DKIM key pair per sending domain; `privateKeyPem` is a secret output. */
import * as pulumi from "@pulumi/pulumi";
import { lazyProvider } from "../lib/lazy-provider";

export class DkimKey extends pulumi.dynamic.Resource {
  declare readonly publicKeyBase64: pulumi.Output<string>;
  /** Secret. */
  declare readonly privateKeyPem: pulumi.Output<string>;
  constructor(
    name: string,
    args: { domain: pulumi.Input<string>; selector: pulumi.Input<string>; bits?: pulumi.Input<number> },
    opts: pulumi.CustomResourceOptions = {},
  ) {
    super(
      lazyProvider("dist/providers/dkim/key"),
      name,
      { publicKeyBase64: undefined, privateKeyPem: undefined, ...args },
      { ...opts, additionalSecretOutputs: [...(opts.additionalSecretOutputs ?? []), "privateKeyPem"] },
      "penguinmails",
      "DkimKey",
    );
  }
}
