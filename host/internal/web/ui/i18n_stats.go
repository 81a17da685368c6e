package ui

// The dashboard's numbers (numbers.go).
func init() {
	addCatalog(map[string]map[string]string{
		"en": {
			"stats.heading":             "Billing",
			"stats.active":              "Active subscribers",
			"stats.expiring":            "Expiring in the next 7 days",
			"stats.failed_jobs":         "Failed jobs",
			"stats.revenue":             "Revenue, last 30 days",
			"stats.revenue_in":          "Revenue in %s per day and gateway (total %s)",
			"stats.no_revenue":          "No payments in the last 30 days.",
			"stats.payments":            "Payments, last 30 days",
			"stats.payments_by_gateway": "Payments per day and gateway",
			"stats.day":                 "Day",
		},
		"id": {
			"stats.heading":             "Penagihan",
			"stats.active":              "Pelanggan aktif",
			"stats.expiring":            "Berakhir dalam 7 hari ke depan",
			"stats.failed_jobs":         "Tugas gagal",
			"stats.revenue":             "Pendapatan, 30 hari terakhir",
			"stats.revenue_in":          "Pendapatan dalam %s per hari dan gerbang pembayaran (total %s)",
			"stats.no_revenue":          "Tidak ada pembayaran dalam 30 hari terakhir.",
			"stats.payments":            "Pembayaran, 30 hari terakhir",
			"stats.payments_by_gateway": "Pembayaran per hari dan gerbang pembayaran",
			"stats.day":                 "Hari",
		},
	})
}
