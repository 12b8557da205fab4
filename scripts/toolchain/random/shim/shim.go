// Package shim exposes the upstream random provider's framework provider.
// Its module path sits under the upstream module so that Go's path-based
// internal rule lets it import internal/provider.
package shim

import (
	tfpf "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/terraform-providers/terraform-provider-random/internal/provider"
)

func NewProvider() tfpf.Provider { return provider.New() }
