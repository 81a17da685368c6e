package ui

// The hotspot voucher messages (issue 13): a batch's kind, its logins'
// progress and states, the CSV export, the sheet's hotspot lines.

func init() {
	addCatalog(map[string]map[string]string{
		"en": {
			"hotspot.kind":             "Kind",
			"hotspot.kind.redeem":      "Codes redeemed for a customer",
			"hotspot.kind.hotspot":     "Hotspot logins (walk-in customers type the code on the hotspot's login page)",
			"hotspot.progress":         "Logins on the router",
			"hotspot.progress_pending": "%d of %d still being created on the router; reload to follow.",
			"hotspot.progress_done":    "all created: %d unused, %d in use, %d expired",
			"hotspot.provision_error":  "Last router error (retried automatically)",
			"hotspot.export_csv":       "Export CSV",
			"hotspot.state.pending":    "being created",
			"hotspot.state.ready":      "unused",
			"hotspot.state.active":     "in use",
			"hotspot.state.expired":    "expired",
			"hotspot.until":            "valid until %s",
			"hotspot.howto":            "Connect to the Wi-Fi, then scan, or type the code as username and password.",
			"hotspot.qr_alt":           "QR code that opens the hotspot login with this code",
			"hotspot.no_login_url":     "The QR codes carry the code only: set hotspot.login_url in the configuration to make them open the hotspot login.",
			"hotspot.err.plan_kind":    "Hotspot logins need a hotspot plan; choose one.",
			"vouchers.err.kind":        "Choose what the codes are.",
		},
		"id": {
			"hotspot.kind":             "Jenis",
			"hotspot.kind.redeem":      "Kode ditukarkan untuk pelanggan",
			"hotspot.kind.hotspot":     "Login hotspot (pelanggan langsung mengetik kode di halaman login hotspot)",
			"hotspot.progress":         "Login di router",
			"hotspot.progress_pending": "%d dari %d masih dibuat di router; muat ulang untuk melihat.",
			"hotspot.progress_done":    "semua dibuat: %d belum terpakai, %d terpakai, %d kedaluwarsa",
			"hotspot.provision_error":  "Galat router terakhir (dicoba lagi otomatis)",
			"hotspot.export_csv":       "Ekspor CSV",
			"hotspot.state.pending":    "sedang dibuat",
			"hotspot.state.ready":      "belum terpakai",
			"hotspot.state.active":     "terpakai",
			"hotspot.state.expired":    "kedaluwarsa",
			"hotspot.until":            "berlaku sampai %s",
			"hotspot.howto":            "Sambungkan ke Wi-Fi, lalu pindai, atau ketik kode sebagai nama pengguna dan kata sandi.",
			"hotspot.qr_alt":           "Kode QR yang membuka login hotspot dengan kode ini",
			"hotspot.no_login_url":     "Kode QR hanya berisi kode: isi hotspot.login_url di konfigurasi agar kode QR membuka login hotspot.",
			"hotspot.err.plan_kind":    "Login hotspot memerlukan paket hotspot; pilih salah satu.",
			"vouchers.err.kind":        "Pilih jenis kode.",
		},
	})
}
