package web

// The voucher pages over the server (the browser test is
// ui_vouchers_browser_test.go): the roles (a viewer sees no button it may
// not press and no code, and is refused anyway), the generate form's
// refusals next to their fields, a batch's codes page by page, the
// printable sheet with its QR codes, deleting after a confirmation (refused
// once a voucher is used), redeeming, and the audit trail, which must be
// the API's.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// voucherRig is a host with billing on a job queue, the pages, a location
// with a customer, a second location, a plan, and an admin, an operator
// and a viewer with bearer tokens.
type voucherRig struct {
	*authAPI
	admin, operator, viewer string
	north, south, plan      int64
	customer                int64
}

func newVoucherRig(t *testing.T) *voucherRig {
	t.Helper()
	a := newBilledAPI(t, storetest.SQLite(t), func(d *Deps) { d.Plugins = noPlugins(t, d.Config) })
	r := &voucherRig{authAPI: a}
	a.user("ana", "admin password 1", RoleAdmin)
	a.user("olga", "operator password 1", RoleOperator)
	a.user("vera", "viewer password 1", RoleViewer)
	r.admin, r.operator, r.viewer = a.loginJWT("ana", "admin password 1"), a.loginJWT("olga", "operator password 1"), a.loginJWT("vera", "viewer password 1")
	ctx, q := context.Background(), a.db.Q()
	north, south := &store.Location{Name: "north"}, &store.Location{Name: "south"}
	plan := &store.Plan{Name: "Day 3M", Kind: store.PlanHotspot, Validity: 24 * time.Hour, Price: 5000, Currency: "IDR", Active: true}
	for _, err := range []error{q.CreateLocation(ctx, north), q.CreateLocation(ctx, south), q.CreatePlan(ctx, plan)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	cip, _ := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	c := &store.Customer{Name: "Budi", RouterUsername: "budi", RouterPassword: "pw", LocationID: north.ID}
	if err := q.CreateCustomer(ctx, c, cip); err != nil {
		t.Fatal(err)
	}
	r.north, r.south, r.plan, r.customer = north.ID, south.ID, plan.ID, c.ID
	return r
}

// page requests a page with tok's bearer token (a form when form is not
// nil).
func (r *voucherRig) page(method, path, tok string, form url.Values) (int, string, http.Header) {
	r.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	return w.Code, w.Body.String(), w.Header()
}

// generate makes a batch through the form and returns its id.
func (r *voucherRig) generate(location int64, count int) int64 {
	r.t.Helper()
	code, body, h := r.page(http.MethodPost, "/vouchers", r.operator, url.Values{"plan_id": {fmt.Sprint(r.plan)},
		"location_id": {fmt.Sprint(location)}, "count": {strconv.Itoa(count)}, "prefix": {"hs-"}, "note": {"December"}})
	if code != http.StatusSeeOther {
		r.t.Fatalf("generate %d vouchers: %d %.2000s", count, code, body)
	}
	var id int64
	if _, err := fmt.Sscanf(h.Get("Location"), "/vouchers/%d?done=created", &id); err != nil {
		r.t.Fatalf("after generating: Location %q", h.Get("Location"))
	}
	return id
}

// codesOf are a batch's vouchers, from the store.
func (r *voucherRig) codesOf(batch int64) []store.Voucher {
	r.t.Helper()
	vs, err := r.db.Q().ListVouchersAfter(context.Background(), batch, store.VoucherFilter{}, 0, store.MaxLimit)
	if err != nil {
		r.t.Fatal(err)
	}
	return vs
}

// walk follows a list's pages from first by the link next matches, as the
// operator, handing each page's body to each; more than ten pages fail.
func (r *voucherRig) walk(first string, next *regexp.Regexp, each func(page int, body string)) {
	r.t.Helper()
	for path, page := first, 0; path != ""; page++ {
		if page == 10 {
			r.t.Fatalf("%s has more than ten pages", first)
		}
		code, body, _ := r.page(http.MethodGet, path, r.operator, nil)
		if code != http.StatusOK {
			r.t.Fatalf("GET %s: %d %.2000s", path, code, body)
		}
		each(page, body)
		path = ""
		if m := next.FindStringSubmatch(body); m != nil {
			path = html.UnescapeString(m[1])
		}
	}
}

// submatches are the first groups of re's matches in s.
func submatches(re *regexp.Regexp, s string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

var (
	codeCellRE = regexp.MustCompile(`<code class="voucher-code">([A-Z0-9]+)</code>`)
	cardRE     = regexp.MustCompile(`<article class="voucher-card" data-voucher="(\d+)">`)
	qrRE       = regexp.MustCompile(`<img class="vc-qr" src="([^"]+)"`)
	nextPartRE = regexp.MustCompile(`href="([^"]+)" id="next-part"`)
	batchRowRE = regexp.MustCompile(`<tr data-batch="(\d+)">`)
)

func TestVoucherPagesRolesCodesAndSheet(t *testing.T) {
	r := newVoucherRig(t)
	const get, post = http.MethodGet, http.MethodPost

	// The viewer sees the list without buttons and is refused the form.
	_, list, _ := r.page(get, "/vouchers", r.viewer, nil)
	if strings.Contains(list, `id="new-batch"`) || strings.Contains(list, `id="redeem-link"`) {
		t.Error("a viewer sees the generate or redeem buttons")
	}
	form := url.Values{"plan_id": {fmt.Sprint(r.plan)}, "location_id": {fmt.Sprint(r.north)}, "count": {"3"}}
	for _, p := range []struct{ method, path string }{{get, "/vouchers/new"}, {post, "/vouchers"}, {get, "/vouchers/redeem"}} {
		if code, _, _ := r.page(p.method, p.path, r.viewer, form); code != http.StatusForbidden {
			t.Errorf("a viewer's %s %s: %d, want 403", p.method, p.path, code)
		}
	}
	if _, list, _ := r.page(get, "/vouchers", r.operator, nil); !strings.Contains(list, `id="new-batch"`) || !strings.Contains(list, `id="redeem-link"`) {
		t.Error("an operator does not see the generate and redeem buttons")
	}

	// The API's refusals, next to their fields, with the form kept.
	code, body, _ := r.page(post, "/vouchers", r.operator, url.Values{"plan_id": {"999"}, "location_id": {fmt.Sprint(r.north)},
		"count": {"0"}, "prefix": {"a/b"}, "note": {"kept"}})
	for _, want := range []string{`id="plan_id-err"`, `id="count-err"`, `id="prefix-err"`, `value="kept"`, "from 1 to 10000", "at most 8 letters"} {
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, want) {
			t.Errorf("a refused batch: %d; want 422 with %s:\n%.3000s", code, want, body)
		}
	}
	if code, body, _ := r.page(post, "/vouchers", r.operator, url.Values{"plan_id": {fmt.Sprint(r.plan)}, "location_id": {fmt.Sprint(r.north)}, "count": {"ten"}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="count-err"`) {
		t.Errorf("a count that is no number: %d %.2000s", code, body)
	}
	if bs, _ := r.db.Q().ListVoucherBatchesBefore(context.Background(), 0, 10); len(bs) != 0 {
		t.Fatalf("refused forms made batches: %+v", bs)
	}

	// 211 vouchers: the batch page lists them 50 at a time, in order.
	id := r.generate(r.north, 211)
	vs := r.codesOf(id)
	if len(vs) != 211 || !strings.HasPrefix(vs[0].Code, "HS") {
		t.Fatalf("the batch has %d vouchers (%+v); want 211 starting HS", len(vs), vs[:1])
	}
	batch := "/vouchers/" + strconv.FormatInt(id, 10)
	var listed []string
	r.walk(batch+"?done=created", nextRE, func(page int, body string) {
		if page == 0 && !strings.Contains(body, fmt.Sprintf("Batch %d is generated", id)) {
			t.Errorf("the new batch's page has no notice:\n%.2000s", body)
		}
		listed = append(listed, submatches(codeCellRE, body)...)
	})
	want := make([]string, len(vs))
	for i, v := range vs {
		want[i] = v.Code
	}
	if diff := cmp.Diff(want, listed); diff != "" {
		t.Errorf("the batch's codes page by page (-store +page):\n%s", diff)
	}

	// The viewer sees the batch, none of its codes, and no button.
	code, body, _ = r.page(get, batch, r.viewer, nil)
	if code != http.StatusOK || !strings.Contains(body, `id="codes-hidden"`) || !strings.Contains(body, "IDR\u00a05,000") {
		t.Errorf("the viewer's batch page: %d %.2000s", code, body)
	}
	for _, hidden := range []string{vs[0].Code, vs[210].Code, `id="print-link"`, `id="delete-batch"`} {
		if strings.Contains(body, hidden) {
			t.Errorf("the viewer's batch page shows %q", hidden)
		}
	}
	qr := batch + "/codes/" + strconv.FormatInt(vs[0].ID, 10) + "/qr.png"
	for _, p := range []struct{ method, path string }{{get, batch + "/print"}, {get, qr}, {get, batch + "/delete"}, {post, batch + "/delete"}} {
		if code, _, _ := r.page(p.method, p.path, r.viewer, url.Values{}); code != http.StatusForbidden {
			t.Errorf("a viewer's %s %s: %d, want 403", p.method, p.path, code)
		}
	}

	// The list: plan, location, counts, who.
	_, list, _ = r.page(get, "/vouchers", r.viewer, nil)
	_, row, _ := strings.Cut(list, fmt.Sprintf(`<tr data-batch="%d">`, id))
	row, _, _ = strings.Cut(row, "</tr>")
	for _, want := range []string{"Day 3M", "north", `<td class="num">211</td>`, `<td class="num used">0</td>`, `<td class="num unused">211</td>`, "<td>olga</td>"} {
		if !strings.Contains(row, want) {
			t.Errorf("the batch's row has no %s: %s", want, row)
		}
	}

	// The sheet: the unused vouchers as cards, 210 a part, each with its
	// QR code, which decodes as a PNG.
	var cards []string
	var qrs []string
	r.walk(batch+"/print", nextPartRE, func(part int, body string) {
		if !strings.Contains(body, `id="print"`) || !strings.Contains(body, "vouchers-print.js") || strings.Contains(body, "<script>") {
			t.Errorf("the sheet has no print button from its script file:\n%.2000s", body)
		}
		these := submatches(cardRE, body)
		if part == 0 && (len(these) != printLimitForTest || !strings.Contains(body, "IDR\u00a05,000") || !strings.Contains(body, "1 day<") || !strings.Contains(body, vs[0].Code)) {
			t.Errorf("the sheet's first part: %d cards; want %d with price, validity and code", len(these), printLimitForTest)
		}
		cards, qrs = append(cards, these...), append(qrs, submatches(qrRE, body)...)
	})
	wantIDs := make([]string, len(vs))
	for i, v := range vs {
		wantIDs[i] = strconv.FormatInt(v.ID, 10)
	}
	if diff := cmp.Diff(wantIDs, cards); diff != "" || len(qrs) != len(vs) {
		t.Errorf("the sheet's cards (-vouchers +cards):\n%s\n%d QR images", diff, len(qrs))
	}
	for _, src := range []string{qrs[0], qrs[len(qrs)-1]} {
		code, body, h := r.page(get, src, r.operator, nil)
		img, err := png.Decode(bytes.NewReader([]byte(body)))
		if code != http.StatusOK || h.Get("Content-Type") != "image/png" || h.Get("Cache-Control") != "no-store" || err != nil || img.Bounds().Dx() != 256 {
			t.Errorf("GET %s: %d %q %q, %v", src, code, h.Get("Content-Type"), h.Get("Cache-Control"), err)
		}
	}
	// The batches page by page, newest first: 51 more make two pages.
	ids := []string{}
	for range 51 {
		b := &store.VoucherBatch{PlanID: r.plan, LocationID: r.south}
		if _, err := r.db.Q().CreateVoucherBatch(context.Background(), b, 1); err != nil {
			t.Fatal(err)
		}
		ids = append([]string{strconv.FormatInt(b.ID, 10)}, ids...)
	}
	ids = append(ids, strconv.FormatInt(id, 10))
	var batches []string
	r.walk("/vouchers", nextRE, func(_ int, body string) { batches = append(batches, submatches(batchRowRE, body)...) })
	if diff := cmp.Diff(ids, batches); diff != "" {
		t.Errorf("the batches page by page (-newest first +listed):\n%s", diff)
	}

	// A voucher of another batch is not this batch's.
	other := r.generate(r.north, 1)
	wrong := batch + "/codes/" + strconv.FormatInt(r.codesOf(other)[0].ID, 10) + "/qr.png"
	if code, _, _ := r.page(get, wrong, r.operator, nil); code != http.StatusNotFound {
		t.Errorf("GET %s (another batch's voucher): %d, want 404", wrong, code)
	}
}

// printLimitForTest is the sheet's part size the test expects.
const printLimitForTest = 210

func TestVoucherPagesDeleteAndRedeem(t *testing.T) {
	r := newVoucherRig(t)
	const get, post = http.MethodGet, http.MethodPost
	unused, used := r.generate(r.north, 3), r.generate(r.north, 2)
	codes := r.codesOf(used)

	// Redeeming, for the customer the customer list links: refusals next
	// to the code, then the code (as people type it) pays an invoice.
	redeem := "/vouchers/redeem?customer=" + strconv.FormatInt(r.customer, 10)
	if code, body, _ := r.page(get, redeem, r.operator, nil); code != http.StatusOK || !strings.Contains(body, `id="redeem-form"`) || !strings.Contains(body, "For Budi (budi)") {
		t.Errorf("the redeem form: %d %.2000s", code, body)
	}
	if _, body, _ := r.page(get, "/customers", r.operator, nil); !strings.Contains(body, `href="`+html.EscapeString(redeem)+`"`) {
		t.Errorf("the customer list does not link the redeem form:\n%.3000s", body)
	}
	elsewhere := r.codesOf(r.generate(r.south, 1))[0].Code
	for _, c := range []struct{ code, says string }{
		{"", "Enter the code printed on the voucher."},
		{"NOSUCHCODE99", "No voucher has this code"},
		{elsewhere, "another location than the customer"},
	} {
		code, body, _ := r.page(post, "/vouchers/redeem", r.operator, url.Values{"customer_id": {fmt.Sprint(r.customer)}, "code": {c.code}})
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="code-err"`) || !strings.Contains(body, c.says) {
			t.Errorf("redeem %q: %d; want 422 saying %q next to the code:\n%.3000s", c.code, code, c.says, body)
		}
	}
	typed := strings.ToLower(codes[0].Code[:5]) + "-" + codes[0].Code[5:]
	if code, _, _ := r.page(post, "/vouchers/redeem", r.viewer, url.Values{"customer_id": {fmt.Sprint(r.customer)}, "code": {typed}}); code != http.StatusForbidden {
		t.Errorf("a viewer's redeem: %d, want 403", code)
	}
	code, body, h := r.page(post, "/vouchers/redeem", r.operator, url.Values{"customer_id": {fmt.Sprint(r.customer)}, "code": {typed}})
	if code != http.StatusSeeOther || !strings.Contains(h.Get("Location"), "redeemed=INV-") {
		t.Fatalf("redeem %q: %d %q %.2000s", typed, code, h.Get("Location"), body)
	}
	if _, body, _ := r.page(get, h.Get("Location"), r.operator, nil); !strings.Contains(body, "The voucher is redeemed: invoice INV-") {
		t.Errorf("after redeeming: %.2000s", body)
	}
	if code, body, _ := r.page(post, "/vouchers/redeem", r.operator, url.Values{"customer_id": {fmt.Sprint(r.customer)}, "code": {codes[0].Code}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, "redeemed already") {
		t.Errorf("the same code again: %d %.2000s", code, body)
	}
	_, body, _ = r.page(get, fmt.Sprintf("/vouchers/%d", used), r.operator, nil)
	if strings.Contains(body, `id="delete-batch"`) || !strings.Contains(body, `id="batch-used">1<`) || !strings.Contains(body, ">Customer "+fmt.Sprint(r.customer)+"<") {
		t.Errorf("the used batch's page offers deleting or hides the use:\n%.4000s", body)
	}

	// A used batch stays: the confirmation says why, the server refuses.
	usedPath := fmt.Sprintf("/vouchers/%d/delete", used)
	if code, body, _ := r.page(get, usedPath, r.operator, nil); code != http.StatusOK || strings.Contains(body, `id="confirm-delete"`) || !strings.Contains(body, "stays as their record") {
		t.Errorf("the used batch's confirmation: %d %.2000s", code, body)
	}
	if code, body, _ := r.page(post, usedPath, r.operator, url.Values{}); code != http.StatusConflict || !strings.Contains(body, "stays as their record") {
		t.Errorf("deleting the used batch: %d, want 409 saying why:\n%.2000s", code, body)
	}
	if _, err := r.db.Q().GetVoucherBatch(context.Background(), used); err != nil {
		t.Errorf("the used batch: %v", err)
	}

	// An unused one goes after the confirmation.
	path := fmt.Sprintf("/vouchers/%d/delete", unused)
	if code, body, _ := r.page(get, path, r.operator, nil); code != http.StatusOK || !strings.Contains(body, `id="confirm-delete"`) || !strings.Contains(body, "its 3 vouchers") {
		t.Errorf("the confirmation: %d %.2000s", code, body)
	}
	code, _, h = r.page(post, path, r.operator, url.Values{})
	if code != http.StatusSeeOther {
		t.Fatalf("delete: %d", code)
	}
	if _, err := r.db.Q().GetVoucherBatch(context.Background(), unused); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the deleted batch: %v", err)
	}
	if _, body, _ := r.page(get, h.Get("Location"), r.operator, nil); !strings.Contains(body, fmt.Sprintf("Batch %d is deleted", unused)) {
		t.Errorf("after deleting: %.2000s", body)
	}
	if code, _, _ := r.page(post, path, r.operator, url.Values{}); code != http.StatusNotFound {
		t.Errorf("deleting twice: %d, want 404", code)
	}
}

// TestVoucherPagesAuditAsTheAPI: generating, deleting and redeeming
// through the pages leaves the audit record the API leaves.
func TestVoucherPagesAuditAsTheAPI(t *testing.T) {
	r := newVoucherRig(t)
	as := withBearer(r.operator)
	// recorded runs do and waits for the next audit record of action,
	// returned without the ids that differ between two runs of it.
	recorded := func(action string, do func()) auditRecord {
		t.Helper()
		of := func() []auditRecord {
			var list struct{ Items []auditRecord }
			r.do(http.MethodGet, "/api/v1/audit?limit=500", nil, withBearer(r.admin)).json(t, &list)
			var out []auditRecord
			for _, a := range list.Items {
				if a.Action == action {
					out = append(out, a)
				}
			}
			return out
		}
		before := len(of())
		do()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if recs := of(); len(recs) > before {
				a := recs[0] // newest first
				a.ResourceID = ""
				for _, k := range []string{"subscription_id", "expires_at"} {
					if _, ok := a.Metadata[k]; ok {
						a.Metadata[k] = "..."
					}
				}
				return a
			}
			if time.Now().After(deadline) {
				t.Fatalf("no audit record of %s 20s after the change", action)
			}
		}
	}
	compare := func(what string, viaAPI, viaPage auditRecord) {
		t.Helper()
		if diff := cmp.Diff(viaAPI, viaPage); diff != "" || viaAPI.Actor != "user:olga" || viaAPI.Outcome != "success" {
			t.Errorf("%s: the API audited %+v; the page (-API +page):\n%s", what, viaAPI, diff)
		}
	}

	batch := map[string]any{"plan_id": r.plan, "location_id": r.north, "count": 2, "prefix": "hs-", "note": "December"}
	var apiBatch, pageBatch int64
	compare("generating",
		recorded("voucher_batch.created", func() {
			apiBatch = r.created(http.StatusCreated, http.MethodPost, "/api/v1/voucher-batches", batch, as)
		}),
		recorded("voucher_batch.created", func() { pageBatch = r.generate(r.north, 2) }))

	compare("redeeming",
		recorded("invoice.paid", func() {
			r.created(http.StatusOK, http.MethodPost, "/api/v1/vouchers/redeem", map[string]any{"code": r.codesOf(apiBatch)[0].Code, "customer_id": r.customer}, as)
		}),
		recorded("invoice.paid", func() {
			form := url.Values{"customer_id": {fmt.Sprint(r.customer)}, "code": {r.codesOf(pageBatch)[0].Code}}
			if code, body, _ := r.page(http.MethodPost, "/vouchers/redeem", r.operator, form); code != http.StatusSeeOther {
				t.Fatalf("redeem through the page: %d %.2000s", code, body)
			}
		}))

	del1, del2 := r.generate(r.north, 1), r.generate(r.north, 1)
	compare("deleting",
		recorded("voucher_batch.deleted", func() {
			r.created(http.StatusNoContent, http.MethodDelete, fmt.Sprintf("/api/v1/voucher-batches/%d", del1), nil, as)
		}),
		recorded("voucher_batch.deleted", func() {
			if code, _, _ := r.page(http.MethodPost, fmt.Sprintf("/vouchers/%d/delete", del2), r.operator, url.Values{}); code != http.StatusSeeOther {
				t.Fatalf("delete through the page: %d", code)
			}
		}))
}

// TestVoucherPagesInIndonesian: the batch page and the sheet in Bahasa
// Indonesia, rupiah written the Indonesian way.
func TestVoucherPagesInIndonesian(t *testing.T) {
	s := matrixServer(t)
	h := s.Handler()
	ctx, q := context.Background(), s.deps.DB.Q()
	loc := &store.Location{Name: "north"}
	plan := &store.Plan{Name: "Day 3M", Kind: store.PlanHotspot, Validity: 24 * time.Hour, Price: 150000, Currency: "IDR", Active: true}
	if err := q.CreateLocation(ctx, loc); err != nil {
		t.Fatal(err)
	}
	if err := q.CreatePlan(ctx, plan); err != nil {
		t.Fatal(err)
	}
	b := &store.VoucherBatch{PlanID: plan.ID, LocationID: loc.ID}
	if _, err := q.CreateVoucherBatch(ctx, b, 2); err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(b.ID, 10)
	for path, want := range map[string][]string{
		"/vouchers":                  {"Kelompok " + id, "Belum terpakai", "Buat kelompok voucher"},
		"/vouchers/" + id:            {"Rp\u00a0150.000", "1 hari", "Cetak lembar", "belum terpakai"},
		"/vouchers/" + id + "/print": {"Rp\u00a0150.000", "1 hari", "Kartu 1 sampai 2", ">Cetak<"},
		"/vouchers/new":              {"Day 3M: Rp\u00a0150.000, 1 hari", "Berapa voucher (1 sampai 10000)"},
	} {
		code, body := pageIn(t, h, path, RoleOperator, "id")
		for _, w := range want {
			if code != http.StatusOK || !strings.Contains(body, w) {
				t.Errorf("GET %s in Indonesian: %d; want %q in:\n%.3000s", path, code, w, body)
			}
		}
	}
}
