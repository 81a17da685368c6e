package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/mikrobill/mikrobill/host/internal/version"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/client"
)

func newVersion(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the host's version, its plugin protocol versions and the SDK it was built with",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(g.stdout, "mikrobill %s\nplugin protocol versions: %v\nsdk %s\n%s %s/%s\n",
				version.Version, client.ProtocolVersions, sdk.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
