// Command mikrobill is the mikrobill host. Run `mikrobill --help`.
package main

import (
	"os"

	"github.com/mikrobill/mikrobill/host/internal/cli"
)

func main() {
	os.Exit(cli.Execute(os.Args[1:], os.Stdout, os.Stderr, os.Environ()))
}
