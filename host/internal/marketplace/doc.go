// Package marketplace is the plugin marketplace: a TUF repository (The
// Update Framework, github.com/theupdateframework/go-tuf/v2) of plugin
// archives, for publishers and for the hosts that trust it.
//
// Publishers start at [Init], which makes a repository folder: its keys
// (keys/, 0600) and the metadata and archives to serve (repository/, a
// static tree). [Repo.Publish] archives a plugin folder per OS and
// architecture and signs it in; [Repo.Delegate] hands a name pattern
// (payment-*) to a publisher's own key; [Repo.RotateKey] replaces a role's
// key; [Repo.Refresh] re-signs the short-lived snapshot and timestamp.
// [Handler] serves the repository folder.
//
// Hosts start at [Add] (trust a marketplace by its root metadata) and
// [Sources], which opens every trusted marketplace, those added and those
// the configuration declares, as a [pluginstall.Source]: a [Client] that
// refreshes the metadata through the TUF updater, lists the signed targets
// and fetches one: download (resumed when cut), verify length and hashes
// against the signed target, and only then unpack safely ([Unpack]).
//
// The layout of a target, the archive of one plugin version for one
// platform, is NAME/VERSION/NAME-VERSION-OS-ARCH.tar.gz; its custom
// metadata is [Custom].
package marketplace

import "errors"

// Errors a caller may test with errors.Is.
var (
	// ErrNotFound: no such plugin, version or platform in a marketplace.
	ErrNotFound = errors.New("not found")
	// ErrVerify: an archive does not match its signed target (length or
	// hashes), or a target's metadata contradicts its path.
	ErrVerify = errors.New("verification failed")
	// ErrUnsafeArchive: an archive holds an entry that may not be unpacked
	// (absolute path, "..", a link, a device) or exceeds the limits.
	ErrUnsafeArchive = errors.New("unsafe archive")
	// ErrNotTrusted: no trusted marketplace has that name.
	ErrNotTrusted = errors.New("marketplace not trusted")
)
