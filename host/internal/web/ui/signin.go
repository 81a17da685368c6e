package ui

// Signing in and out with a session cookie (auth.Service, as the API's
// /auth/login with "session": true), and the language switch.

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/mikrobill/mikrobill/host/internal/auth"
)

// signInData is the sign-in page's.
type signInData struct {
	Username string
	Next     string
	// FirstRun: no user exists yet; the page says how to make one.
	FirstRun bool
}

// SignInForm serves GET /signin. A signed-in user goes to the dashboard.
func (u *UI) SignInForm(w http.ResponseWriter, r *http.Request) error {
	if userFrom(r) != nil {
		redirect(w, r, localPath(r.URL.Query().Get("next")))
		return nil
	}
	v := view{Title: "signin.title", Data: &signInData{Next: r.URL.Query().Get("next")}}
	if r.URL.Query().Has("out") {
		v.Notice = "signin.signed_out"
	}
	return u.signInPage(w, r, http.StatusOK, v)
}

func (u *UI) signInPage(w http.ResponseWriter, r *http.Request, status int, v view) error {
	has, err := u.deps.Accounts.HasUsers(r.Context())
	if err != nil {
		return err
	}
	v.Data.(*signInData).FirstRun = !has
	v.Title = "signin.title"
	return u.render(w, r, status, "signin.html", v)
}

// SignIn serves POST /signin: the username and password, checked by
// auth.Service.Login within the API's sign-in limit, start a session.
func (u *UI) SignIn(w http.ResponseWriter, r *http.Request) error {
	username, password := strings.TrimSpace(r.PostFormValue("username")), r.PostFormValue("password")
	data := &signInData{Username: username, Next: r.PostFormValue("next")}
	v := view{Data: data}
	if username == "" || password == "" {
		v.Problem = "signin.required"
		return u.signInPage(w, r, http.StatusUnprocessableEntity, v)
	}
	ok, err := u.deps.AllowSignIn(w, r, auth.NormalizeUsername(username))
	if err != nil {
		return err
	}
	if !ok {
		v.Problem = "signin.limited"
		return u.signInPage(w, r, http.StatusTooManyRequests, v)
	}
	usr, err := u.deps.Accounts.Login(r.Context(), username, password)
	switch {
	case errors.Is(err, auth.ErrBadCredentials):
		u.log.Info("sign-in refused", "user", auth.NormalizeUsername(username), "remote", u.deps.ClientKey(r))
		v.Problem = "signin.bad"
		return u.signInPage(w, r, http.StatusUnauthorized, v)
	case errors.Is(err, auth.ErrUserDisabled):
		u.log.Info("sign-in refused: disabled", "user", auth.NormalizeUsername(username), "remote", u.deps.ClientKey(r))
		v.Problem = "signin.disabled"
		return u.signInPage(w, r, http.StatusForbidden, v)
	case err != nil:
		return err
	}
	secure := u.deps.Secure(r)
	// A session cookie the browser already holds is replaced: end it.
	if _, err := u.deps.Accounts.EndSession(r.Context(), r, secure); err != nil {
		return err
	}
	cookie, _, err := u.deps.Accounts.StartSession(r.Context(), usr, u.deps.ClientKey(r), secure)
	if err != nil {
		return err
	}
	http.SetCookie(w, cookie)
	u.log.Info("signed in", "user", usr.Username, "via", auth.ViaSession, "remote", u.deps.ClientKey(r))
	redirect(w, r, localPath(data.Next))
	return nil
}

// SignOut serves POST /signout: the session ends and its cookie is
// cleared.
func (u *UI) SignOut(w http.ResponseWriter, r *http.Request) error {
	clear, err := u.deps.Accounts.EndSession(r.Context(), r, u.deps.Secure(r))
	if err != nil {
		return err
	}
	http.SetCookie(w, clear)
	redirect(w, r, "/signin?out=1")
	return nil
}

// SetLanguage serves POST /language: the chosen language is kept in a
// cookie, and the browser goes back to the page it came from.
func (u *UI) SetLanguage(w http.ResponseWriter, r *http.Request) error {
	lang := r.PostFormValue("lang")
	if _, ok := catalogs[lang]; !ok {
		u.Fail(w, r, http.StatusBadRequest, "")
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: LanguageCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: u.deps.Secure(r), SameSite: http.SameSiteLaxMode})
	redirect(w, r, localPath(r.PostFormValue("back")))
	return nil
}

// localPath returns p when it is a path on this host, else "/": redirects
// after a form never leave the host.
func localPath(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return "/"
	}
	if pu, err := url.Parse(p); err != nil || pu.Host != "" || pu.Scheme != "" {
		return "/"
	}
	return p
}
