package ui

// The operators' everyday messages on the plugin page: a lasting disable
// and a plugin that waits for its settings.

func init() {
	addCatalog(map[string]map[string]string{
		"en": {
			"plugin.disable_lasting": "Keep disabled after restarts",
			"plugin.not_configured":  "Not configured, waiting for its settings",
		},
		"id": {
			"plugin.disable_lasting": "Tetap nonaktif setelah restart",
			"plugin.not_configured":  "Belum dikonfigurasi, menunggu pengaturannya",
		},
	})
}
