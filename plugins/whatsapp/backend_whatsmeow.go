//go:build !wafake

package main

import (
	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa/whatsmeow"
)

// newBackend is the real backend: whatsmeow, its device keys in a SQLite
// store in the plugin's data directory.
func newBackend(dir string, log hclog.Logger) (wa.Backend, error) {
	return whatsmeow.New(dir, log)
}
