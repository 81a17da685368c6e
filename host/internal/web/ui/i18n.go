package ui

// The languages of the UI and their catalogs. Every string a page shows
// goes through t with a key of catalogs; i18n_test.go checks that every
// key is in every language and that no template has text of its own.

import (
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/text/language"
)

// LanguageCookie remembers the language an operator chose with the switch.
const LanguageCookie = "mikrobill_lang"

// languages are the UI's languages, the default first.
var languages = []language.Tag{language.English, language.Indonesian}

var matcher = language.NewMatcher(languages)

// catalogs maps each language's code to its messages. Messages with verbs
// (%d, %s) take arguments: {{t "key" .Arg}}. It holds the messages below
// and those each page group's file adds with addCatalog (i18n_<group>.go),
// so pages are added without touching one shared table.
var catalogs = map[string]map[string]string{}

// addCatalog adds a page group's messages, per language code. A key added
// twice is a programming error, caught when the package loads (and so by
// every test).
func addCatalog(msgs map[string]map[string]string) {
	for lang, m := range msgs {
		if catalogs[lang] == nil {
			catalogs[lang] = map[string]string{}
		}
		for k, v := range m {
			if _, dup := catalogs[lang][k]; dup {
				panic(fmt.Sprintf("ui: message %q (%s) is declared twice", k, lang))
			}
			catalogs[lang][k] = v
		}
	}
}

func init() { addCatalog(baseCatalog) }

// baseCatalog has the layout's, sign-in's, the password page's and the
// dashboard's messages.
var baseCatalog = map[string]map[string]string{
	"en": {
		"app.name":               "mikrobill",
		"nav.label":              "Main",
		"nav.dashboard":          "Dashboard",
		"nav.password":           "Change password",
		"nav.signout":            "Sign out",
		"nav.signed_in_as":       "Signed in as %s (%s)",
		"lang.label":             "Language",
		"lang.apply":             "Change language",
		"lang.en":                "English",
		"lang.id":                "Bahasa Indonesia",
		"role.viewer":            "Viewer",
		"role.operator":          "Operator",
		"role.admin":             "Admin",
		"skip":                   "Skip to content",
		"signin.title":           "Sign in",
		"signin.username":        "Username",
		"signin.password":        "Password",
		"signin.submit":          "Sign in",
		"signin.bad":             "Wrong username or password.",
		"signin.disabled":        "This account is disabled; ask an administrator to enable it.",
		"signin.limited":         "Too many sign-in attempts; wait a few minutes and try again.",
		"signin.required":        "Enter your username and password.",
		"signin.signed_out":      "You are signed out.",
		"signin.first_run":       "No user exists yet. Create the first administrator on the host's command line, then sign in here:",
		"signin.first_run_after": "The command asks for the password; there is no default password.",
		"password.title":         "Change password",
		"password.current":       "Current password",
		"password.new":           "New password",
		"password.confirm":       "New password again",
		"password.hint":          "At least %d characters, not your username. Changing it signs you out everywhere else.",
		"password.submit":        "Change password",
		"password.bad_current":   "The current password is wrong.",
		"password.weak":          "Choose a stronger password: at least %d characters, not your username, not one character repeated.",
		"password.mismatch":      "The two new passwords differ; type the same one twice.",
		"password.changed":       "Your password is changed. Other sessions are signed out.",
		"dashboard.title":        "Dashboard",
		"dashboard.plugins":      "Plugins",
		"dashboard.no_plugins":   "No plugins are installed. Put them in the plugins folder and restart the host.",
		"plugin.kind":            "Kind",
		"plugin.state":           "State",
		"plugin.health":          "Health",
		"plugin.restarts":        "Restarts",
		"plugin.circuit":         "Circuit",
		"plugin.error":           "Error",
		"plugin.restart":         "Restart",
		"plugin.disable":         "Disable",
		"plugin.enable":          "Enable",
		"plugin.actions":         "Actions for %s",
		"plugin.done_restart":    "The plugin %s is restarting.",
		"plugin.done_disable":    "The plugin %s is disabled.",
		"plugin.done_enable":     "The plugin %s is enabled and starting.",
		"state.starting":         "starting",
		"state.running":          "running",
		"state.unhealthy":        "unhealthy",
		"state.restarting":       "restarting",
		"state.failed":           "failed",
		"state.stopped":          "stopped",
		"state.disabled":         "disabled",
		"state.not_configured":   "not configured",
		"state.elsewhere":        "on another host",
		"health.ok":              "ok",
		"health.degraded":        "degraded",
		"health.error":           "error",
		"health.unknown":         "unknown",
		"circuit.closed":         "closed",
		"circuit.open":           "open",
		"circuit.half-open":      "half-open",
		"error.title":            "Something went wrong",
		"error.400":              "The request was not understood.",
		"error.403":              "Your role may not do this. Ask an administrator if you need it.",
		"error.404":              "There is nothing here.",
		"error.429":              "Too many requests; wait a minute and try again.",
		"error.500":              "The host could not show this page. The log has the details.",
		"error.503":              "A service the page needs is not answering; try again shortly.",
		"error.back":             "Back to the dashboard",
		"error.request_id":       "Request id: %s",
	},
	"id": {
		"app.name":               "mikrobill",
		"nav.label":              "Utama",
		"nav.dashboard":          "Dasbor",
		"nav.password":           "Ganti kata sandi",
		"nav.signout":            "Keluar",
		"nav.signed_in_as":       "Masuk sebagai %s (%s)",
		"lang.label":             "Bahasa",
		"lang.apply":             "Ganti bahasa",
		"lang.en":                "English",
		"lang.id":                "Bahasa Indonesia",
		"role.viewer":            "Peninjau",
		"role.operator":          "Operator",
		"role.admin":             "Admin",
		"skip":                   "Langsung ke isi",
		"signin.title":           "Masuk",
		"signin.username":        "Nama pengguna",
		"signin.password":        "Kata sandi",
		"signin.submit":          "Masuk",
		"signin.bad":             "Nama pengguna atau kata sandi salah.",
		"signin.disabled":        "Akun ini dinonaktifkan; minta administrator untuk mengaktifkannya.",
		"signin.limited":         "Terlalu banyak percobaan masuk; tunggu beberapa menit lalu coba lagi.",
		"signin.required":        "Isi nama pengguna dan kata sandi Anda.",
		"signin.signed_out":      "Anda sudah keluar.",
		"signin.first_run":       "Belum ada pengguna. Buat administrator pertama di baris perintah host, lalu masuk di sini:",
		"signin.first_run_after": "Perintah itu menanyakan kata sandinya; tidak ada kata sandi bawaan.",
		"password.title":         "Ganti kata sandi",
		"password.current":       "Kata sandi saat ini",
		"password.new":           "Kata sandi baru",
		"password.confirm":       "Ulangi kata sandi baru",
		"password.hint":          "Minimal %d karakter, bukan nama pengguna Anda. Menggantinya mengeluarkan Anda dari semua sesi lain.",
		"password.submit":        "Ganti kata sandi",
		"password.bad_current":   "Kata sandi saat ini salah.",
		"password.weak":          "Pilih kata sandi yang lebih kuat: minimal %d karakter, bukan nama pengguna Anda, bukan satu karakter yang diulang.",
		"password.mismatch":      "Kedua kata sandi baru berbeda; ketik yang sama dua kali.",
		"password.changed":       "Kata sandi Anda sudah diganti. Sesi lain sudah dikeluarkan.",
		"dashboard.title":        "Dasbor",
		"dashboard.plugins":      "Plugin",
		"dashboard.no_plugins":   "Belum ada plugin terpasang. Taruh di folder plugin lalu mulai ulang host.",
		"plugin.kind":            "Jenis",
		"plugin.state":           "Keadaan",
		"plugin.health":          "Kesehatan",
		"plugin.restarts":        "Mulai ulang",
		"plugin.circuit":         "Sirkuit",
		"plugin.error":           "Galat",
		"plugin.restart":         "Mulai ulang",
		"plugin.disable":         "Nonaktifkan",
		"plugin.enable":          "Aktifkan",
		"plugin.actions":         "Tindakan untuk %s",
		"plugin.done_restart":    "Plugin %s sedang dimulai ulang.",
		"plugin.done_disable":    "Plugin %s dinonaktifkan.",
		"plugin.done_enable":     "Plugin %s diaktifkan dan sedang dimulai.",
		"state.starting":         "sedang mulai",
		"state.running":          "berjalan",
		"state.unhealthy":        "tidak sehat",
		"state.restarting":       "sedang dimulai ulang",
		"state.failed":           "gagal",
		"state.stopped":          "berhenti",
		"state.disabled":         "nonaktif",
		"state.not_configured":   "belum dikonfigurasi",
		"state.elsewhere":        "di host lain",
		"health.ok":              "baik",
		"health.degraded":        "menurun",
		"health.error":           "galat",
		"health.unknown":         "tidak diketahui",
		"circuit.closed":         "tertutup",
		"circuit.open":           "terbuka",
		"circuit.half-open":      "setengah terbuka",
		"error.title":            "Terjadi kesalahan",
		"error.400":              "Permintaan tidak dapat dipahami.",
		"error.403":              "Peran Anda tidak boleh melakukan ini. Minta administrator bila Anda memerlukannya.",
		"error.404":              "Tidak ada apa-apa di sini.",
		"error.429":              "Terlalu banyak permintaan; tunggu sebentar lalu coba lagi.",
		"error.500":              "Host tidak dapat menampilkan halaman ini. Log berisi rinciannya.",
		"error.503":              "Layanan yang diperlukan halaman ini tidak menjawab; coba lagi sebentar lagi.",
		"error.back":             "Kembali ke dasbor",
		"error.request_id":       "Id permintaan: %s",
	},
}

// translate returns the message of key in lang, formatted with args when
// it has verbs (a page passes a notice's argument whether or not its
// message uses one). An
// unknown key is an error, so a page that asks for one fails to render
// instead of showing the key.
func translate(lang, key string, args ...any) (string, error) {
	msg, ok := catalogs[lang][key]
	if !ok {
		return "", fmt.Errorf("no message %q in the %s catalog: add it to catalogs (host/internal/web/ui/i18n.go)", key, lang)
	}
	if len(args) == 0 || !strings.Contains(msg, "%") {
		return msg, nil
	}
	return fmt.Sprintf(msg, args...), nil
}

// languageOf picks the request's language: the switch's cookie if it names
// one of ours, else the best match of Accept-Language, else English.
func languageOf(r *http.Request) string {
	if c, err := r.Cookie(LanguageCookie); err == nil {
		if _, ok := catalogs[c.Value]; ok {
			return c.Value
		}
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	_, i, _ := matcher.Match(tags...)
	base, _ := languages[i].Base()
	return base.String()
}
