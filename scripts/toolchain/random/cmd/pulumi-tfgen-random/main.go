// pulumi-tfgen-random writes the Pulumi schema of the bridged provider; the
// toolchain embeds it into pulumi-resource-random.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	"penguinmails.local/toolchain/random/bridge"
)

func main() { tfgen.Main("random", bridge.Provider()) }
