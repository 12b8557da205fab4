// pulumi-resource-random serves the upstream Terraform random provider through
// the Pulumi Terraform bridge.
package main

import (
	"context"
	_ "embed"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	"penguinmails.local/toolchain/random/bridge"
)

//go:embed schema.json
var schema []byte

func main() {
	pf.Main(context.Background(), "random", bridge.Provider(), pf.ProviderMetadata{PackageSchema: schema})
}
