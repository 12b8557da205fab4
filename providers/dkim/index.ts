/** `DkimKey`: a DKIM key pair per sending domain; `privateKeyPem` is a secret output. */
import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "../lib/dynamic-resource";

export class DkimKey extends DynamicResource {
  declare readonly publicKeyBase64: pulumi.Output<string>;
  /** Secret. */
  declare readonly privateKeyPem: pulumi.Output<string>;
  constructor(
    name: string,
    args: { domain: pulumi.Input<string>; selector: pulumi.Input<string>; bits?: pulumi.Input<number> },
    opts: pulumi.CustomResourceOptions = {},
  ) {
    super(
      "dist/providers/dkim/key",
      name,
      { publicKeyBase64: undefined, privateKeyPem: undefined, ...args },
      { ...opts, additionalSecretOutputs: [...(opts.additionalSecretOutputs ?? []), "privateKeyPem"] },
      "penguinmails",
      "DkimKey",
    );
  }
}
