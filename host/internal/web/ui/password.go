package ui

// Changing one's own password (auth.Service.ChangePassword).

import (
	"errors"
	"net/http"

	"github.com/mikrobill/mikrobill/host/internal/auth"
)

// passwordData is the password page's.
type passwordData struct {
	MinLen int
}

// PasswordForm serves GET /password.
func (u *UI) PasswordForm(w http.ResponseWriter, r *http.Request) error {
	v := view{Title: "password.title", Data: passwordData{auth.MinPasswordLen}}
	if r.URL.Query().Has("done") {
		v.Notice = "password.changed"
	}
	return u.render(w, r, http.StatusOK, "password.html", v)
}

// ChangePassword serves POST /password: the current password, then the new
// one twice. The change ends every session of the user, this one too, so
// the browser gets a new session at once.
func (u *UI) ChangePassword(w http.ResponseWriter, r *http.Request) error {
	me := userFrom(r)
	current, next := r.PostFormValue("current"), r.PostFormValue("new")
	v := view{Title: "password.title", Data: passwordData{auth.MinPasswordLen}}
	if next != r.PostFormValue("confirm") {
		v.Problem = "password.mismatch"
		return u.render(w, r, http.StatusUnprocessableEntity, "password.html", v)
	}
	usr, err := u.deps.Accounts.ChangePassword(r.Context(), me.ID, current, next)
	switch {
	case errors.Is(err, auth.ErrBadCredentials):
		v.Problem = "password.bad_current"
		return u.render(w, r, http.StatusUnprocessableEntity, "password.html", v)
	case errors.Is(err, auth.ErrWeakPassword):
		v.Problem, v.ProblemArg = "password.weak", auth.MinPasswordLen
		return u.render(w, r, http.StatusUnprocessableEntity, "password.html", v)
	case err != nil:
		return err
	}
	cookie, _, err := u.deps.Accounts.StartSession(r.Context(), usr, u.deps.ClientKey(r), u.deps.Secure(r))
	if err != nil {
		return err
	}
	http.SetCookie(w, cookie)
	u.log.Info("password changed", "user", usr.Username, "remote", u.deps.ClientKey(r))
	redirect(w, r, "/password?done=1")
	return nil
}
