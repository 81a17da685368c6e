//go:build wafake

package main

import (
	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa/fake"
)

// newBackend is the wafake build's backend: the fake WhatsApp of package
// fake, driven through files in the data directory (its package doc).
func newBackend(dir string, _ hclog.Logger) (wa.Backend, error) {
	return fake.NewInDir(dir)
}
