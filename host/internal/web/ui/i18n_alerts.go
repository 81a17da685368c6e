package ui

// What a refused or failed htmx request tells the person in the layout's
// alert region (static/alerts.js, Fail's fragment), and the error pages'
// messages for the statuses a plugin action or a form can meet beyond
// those of baseCatalog.
func init() {
	addCatalog(map[string]map[string]string{
		"en": {
			"error.409":     "Something changed this meanwhile, so it was not done. Reload the page to see how things are now, then try again.",
			"error.422":     "This cannot be done as things are now (they may have changed since the page was shown). Reload the page to see how things are now.",
			"error.501":     "This is not supported here.",
			"error.504":     "The host took too long to answer; try again shortly.",
			"error.network": "The host could not be reached. Check the connection, then try again.",
			"error.refused": "The host refused this (status %d). Reload the page and try again.",
		},
		"id": {
			"error.409":     "Ada yang mengubah ini sementara itu, jadi tidak dilakukan. Muat ulang halaman untuk melihat keadaan terkini, lalu coba lagi.",
			"error.422":     "Ini tidak dapat dilakukan dalam keadaan sekarang (mungkin sudah berubah sejak halaman ditampilkan). Muat ulang halaman untuk melihat keadaan terkini.",
			"error.501":     "Ini tidak didukung di sini.",
			"error.504":     "Host terlalu lama menjawab; coba lagi sebentar lagi.",
			"error.network": "Host tidak dapat dihubungi. Periksa koneksi, lalu coba lagi.",
			"error.refused": "Host menolak ini (status %d). Muat ulang halaman lalu coba lagi.",
		},
	})
}
