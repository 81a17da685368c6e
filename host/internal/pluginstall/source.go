// Package pluginstall takes plugins into a plugin directory and hands them
// to a running host: install, upgrade (blue-green), rollback and remove.
//
// A plugin comes from a [Source]: a trusted marketplace (a TUF repository,
// host/internal/marketplace) or a folder on disk. A Source only finds,
// verifies and unpacks; checking the unpacked folder against this host
// (manifest, handshake, versions), placing it, locking it and starting it
// are this package's.
package pluginstall

import "context"

// Listing is one version of one plugin that a [Source] offers: for a
// marketplace, the target's signed custom metadata.
type Listing struct {
	Source           string `json:"source"` // the marketplace's name; "" for a folder on disk
	Name             string `json:"name"`
	Version          string `json:"version"`
	Kind             string `json:"kind"`
	Description      string `json:"description"`
	Publisher        string `json:"publisher"`
	Summary          string `json:"summary"` // the manifest's summary
	MinHostVersion   string `json:"min_host_version"`
	ProtocolVersions []int  `json:"protocol_versions"`
	OS               string `json:"os"`
	Arch             string `json:"arch"`
	Length           int64  `json:"length"` // the archive's size in bytes; 0 when unknown
}

// Progress is told how many bytes of an archive have arrived out of total
// (total is 0 when unknown). It is called from the downloading goroutine.
type Progress func(done, total int64)

// Source is somewhere plugins come from.
type Source interface {
	// Name is the source's name: the marketplace's name as the operator
	// added it.
	Name() string
	// Search refreshes the source's metadata and lists every version of
	// every plugin whose name or description contains text (all when
	// text is ""), for this host's OS and architecture.
	Search(ctx context.Context, text string) ([]Listing, error)
	// Fetch refreshes the metadata, downloads name at version (the newest
	// when version is ""), verifies the archive against the signed
	// metadata before unpacking anything, and unpacks it safely into dst,
	// an empty directory that exists. progress may be nil.
	Fetch(ctx context.Context, name, version, dst string, progress Progress) (Listing, error)
}
