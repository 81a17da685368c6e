package ui

import "maps"

// Messages returns a copy of a language's catalog (nil for a language the
// UI does not have), for tests outside the package that check pages for
// messages of the wrong language.
func Messages(lang string) map[string]string {
	if catalogs[lang] == nil {
		return nil
	}
	return maps.Clone(catalogs[lang])
}
