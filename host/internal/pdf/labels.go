package pdf

import (
	"fmt"
	"strings"
	"time"
)

// labels are a language's words on the documents.
type labels struct {
	words  map[string]string
	months [12]string
}

func (l labels) get(key string) string {
	if w, ok := l.words[key]; ok {
		return w
	}
	return key
}

// all is every word and month name of the language, joined (for
// fontsFor).
func (l labels) all() string {
	var b strings.Builder
	for _, w := range l.words {
		b.WriteString(w)
	}
	for _, m := range l.months {
		b.WriteString(m)
	}
	return b.String()
}

// date writes a date as "5 Desember 2026".
func (l labels) date(t time.Time) string {
	return fmt.Sprintf("%d %s %d", t.Day(), l.months[t.Month()-1], t.Year())
}

func labelsFor(lang string) labels {
	if lang == "id" {
		return indonesian
	}
	return english
}

var english = labels{
	words: map[string]string{
		"invoice": "Invoice", "receipt": "Receipt", "tax_id": "Tax number",
		"number": "Number", "issued": "Date", "due": "Due", "status": "Status",
		"customer": "Customer", "phone": "Phone", "email": "Email",
		"description": "Description", "amount": "Amount", "period": "Period", "total": "Total",
		"paid_at": "Paid on", "gateway": "Paid through", "reference": "Payment reference",
		"thanks":        "Thank you for your payment.",
		"status.unpaid": "Unpaid", "status.paid": "Paid", "status.failed": "Failed",
		"status.expired": "Expired", "status.cancelled": "Cancelled",
	},
	months: [12]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
}

var indonesian = labels{
	words: map[string]string{
		"invoice": "Tagihan", "receipt": "Kuitansi", "tax_id": "NPWP",
		"number": "Nomor", "issued": "Tanggal", "due": "Jatuh tempo", "status": "Status",
		"customer": "Pelanggan", "phone": "Telepon", "email": "Email",
		"description": "Keterangan", "amount": "Jumlah", "period": "Periode", "total": "Total",
		"paid_at": "Dibayar pada", "gateway": "Dibayar melalui", "reference": "Referensi pembayaran",
		"thanks":        "Terima kasih atas pembayaran Anda.",
		"status.unpaid": "Belum dibayar", "status.paid": "Lunas", "status.failed": "Gagal",
		"status.expired": "Kedaluwarsa", "status.cancelled": "Dibatalkan",
	},
	months: [12]string{"Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober", "November", "Desember"},
}
