module penguinmails.local/toolchain/random

go 1.25.11

// Bridge v3.128.0 is the newest whose own requirements (pulumi-java/pkg,
// pulumi-yaml, pulumi-language-dotnet) are all tagged releases that the module
// proxy serves; later ones pin untagged commits.
require (
	github.com/pulumi/pulumi-terraform-bridge/v3 v3.128.0
	github.com/terraform-providers/terraform-provider-random/shim v0.0.0
)

replace github.com/terraform-providers/terraform-provider-random/shim => ./shim

// The bridge is built and tested against Pulumi's fork of the plugin SDK.
replace github.com/hashicorp/terraform-plugin-sdk/v2 => github.com/pulumi/terraform-plugin-sdk/v2 v2.0.0-20260318212141-5525259d096b
