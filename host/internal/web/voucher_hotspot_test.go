package web

// Hotspot batches over the server: made through the form (a pppoe plan
// refused next to its field), the batch's page with its kind and the CSV
// link, the sheet whose cards carry the operator's name and a QR code
// that opens the hotspot login with the code filled in, the CSV export
// (operators only, audited), and the API's kind.

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

func TestHotspotVoucherSheetAndExport(t *testing.T) {
	a := newBilledAPI(t, storetest.SQLite(t), func(d *Deps) {
		d.Plugins = noPlugins(t, d.Config)
		d.Config.Operator.Name = "Net Kampung"
		d.Config.Hotspot.LoginURL = "http://{location}.wifi.example.net/login"
	})
	r := &voucherRig{authAPI: a}
	a.user("olga", "operator password 1", RoleOperator)
	a.user("vera", "viewer password 1", RoleViewer)
	r.operator, r.viewer = a.loginJWT("olga", "operator password 1"), a.loginJWT("vera", "viewer password 1")
	ctx, q := context.Background(), a.db.Q()
	north := &store.Location{Name: "north"}
	plan := &store.Plan{Name: "Day 3M", Kind: store.PlanHotspot, Validity: 24 * time.Hour, Price: 5000, Currency: "IDR", Active: true}
	home := &store.Plan{Name: "Home 10M", Kind: store.PlanPPPoE, Validity: 30 * 24 * time.Hour, Price: 150000, Currency: "IDR", Active: true}
	for _, err := range []error{q.CreateLocation(ctx, north), q.CreatePlan(ctx, plan), q.CreatePlan(ctx, home)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	form := func(plan int64) url.Values {
		return url.Values{"plan_id": {fmt.Sprint(plan)}, "location_id": {fmt.Sprint(north.ID)}, "count": {"22"}, "kind": {"hotspot"}}
	}

	// A pppoe plan cannot make hotspot logins.
	code, body, _ := r.page(http.MethodPost, "/vouchers", r.operator, form(home.ID))
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "Hotspot logins need a hotspot plan") {
		t.Errorf("a hotspot batch of a pppoe plan: %d; want 422 saying why: %.3000s", code, body)
	}
	code, body, h := r.page(http.MethodPost, "/vouchers", r.operator, form(plan.ID))
	var id int64
	if _, err := fmt.Sscanf(h.Get("Location"), "/vouchers/%d?done=created", &id); code != http.StatusSeeOther || err != nil {
		t.Fatalf("make a hotspot batch: %d %q %.2000s", code, h.Get("Location"), body)
	}
	b, err := q.GetVoucherBatch(ctx, id)
	if err != nil || b.Kind != store.BatchHotspot || b.Logins == nil || b.Logins.Pending+b.Logins.Ready != 22 {
		t.Fatalf("the batch in the store: %+v, %v", b, err)
	}
	codes := r.codesOf(id)

	_, body, _ = r.page(http.MethodGet, fmt.Sprintf("/vouchers/%d", id), r.operator, nil)
	for _, want := range []string{`id="batch-kind"`, "Hotspot logins", fmt.Sprintf(`href="/api/v1/voucher-batches/%d/export.csv"`, id), `id="batch-logins"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the batch's page lacks %q", want)
		}
	}

	// The sheet: every card with the operator, the price, the validity,
	// the code and the QR code's link to the hotspot login.
	code, body, _ = r.page(http.MethodGet, fmt.Sprintf("/vouchers/%d/print", id), r.operator, nil)
	if code != http.StatusOK {
		t.Fatalf("sheet: %d %.2000s", code, body)
	}
	if n := strings.Count(body, `class="voucher-card hotspot"`); n != 22 {
		t.Errorf("%d hotspot cards on the sheet; want 22", n)
	}
	if n := strings.Count(body, `class="vc-operator">Net Kampung<`); n != 22 {
		t.Errorf("the operator's name is on %d cards; want 22", n)
	}
	for _, want := range []string{"IDR\u00a05,000", "1 day", "type the code as username and password"} {
		if !strings.Contains(body, want) {
			t.Errorf("the sheet lacks %q", want)
		}
	}
	for _, v := range codes {
		link := "http://north.wifi.example.net/login?password=" + v.Code + "&username=" + v.Code
		if !strings.Contains(body, `<a class="vc-login" href="`+html.EscapeString(link)+`">`) {
			t.Errorf("no card's QR code links to %s", link)
		}
	}
	// The QR code is that link.
	code, png, hdr := r.page(http.MethodGet, fmt.Sprintf("/vouchers/%d/codes/%d/qr.png", id, codes[0].ID), r.operator, nil)
	want, err := qrcode.Encode("http://north.wifi.example.net/login?password="+codes[0].Code+"&username="+codes[0].Code, qrcode.Medium, 256)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK || hdr.Get("Content-Type") != "image/png" || !bytes.Equal([]byte(png), want) {
		t.Errorf("the QR code of the first card: %d %s; want the login link's", code, hdr.Get("Content-Type"))
	}

	// The CSV export: operators only.
	if code, _, _ := r.page(http.MethodGet, fmt.Sprintf("/api/v1/voucher-batches/%d/export.csv", id), r.viewer, nil); code != http.StatusForbidden {
		t.Errorf("a viewer's export: %d, want 403", code)
	}
	code, body, hdr = r.page(http.MethodGet, fmt.Sprintf("/api/v1/voucher-batches/%d/export.csv", id), r.operator, nil)
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if code != http.StatusOK || err != nil || hdr.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.Contains(hdr.Get("Content-Disposition"), fmt.Sprintf("voucher-batch-%d.csv", id)) {
		t.Fatalf("export: %d %v %v %.500s", code, err, hdr, body)
	}
	if len(rows) != 23 || strings.Join(rows[0], ",") != strings.Join(voucherCSVHeader, ",") {
		t.Fatalf("export has %d rows, header %v", len(rows), rows[0])
	}
	first := rows[1]
	wantRow := []string{fmt.Sprint(id), "hotspot", codes[0].Code, "north", "Day 3M", "5000", "IDR", "86400"}
	if strings.Join(first[:8], ",") != strings.Join(wantRow, ",") || (first[8] != "pending" && first[8] != "ready") ||
		first[12] != "http://north.wifi.example.net/login?password="+codes[0].Code+"&username="+codes[0].Code {
		t.Errorf("export row %v; want %v, a login state and the login link", first, wantRow)
	}
	sdktest.WaitFor(t, 10*time.Second, "the export audited", func() bool {
		got, _ := a.db.Q().SearchAudit(ctx, store.AuditFilter{Action: "voucher_batch.exported"}, store.AuditCursor{}, false, 10)
		return len(got) == 1 && got[0].ResourceID == fmt.Sprint(id)
	})
}
