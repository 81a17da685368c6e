package pluginstall

import "errors"

// The installer's errors; each wraps one of these, so the admin API maps
// them to status codes (errors.Is) and the message says what to do.
var (
	// ErrBusy: another install, upgrade, rollback or remove holds the
	// plugin directory (HTTP 409).
	ErrBusy = errors.New("another plugin action is under way")
	// ErrNotFound: a source holds no such plugin or version, or no such
	// source is trusted (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrRefused: the plugin fetched is not one this host takes: a
	// manifest with problems, another name than asked, a failed handshake,
	// an incompatible host version or protocol, a missing dependency (HTTP
	// 422).
	ErrRefused = errors.New("refused")
	// ErrState: the action does not fit what is installed: install of an
	// installed plugin, upgrade or remove of one that is not, rollback
	// without a kept version, remove while others depend on it (HTTP 409).
	ErrState = errors.New("not possible now")
)
