package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/web"
)

func newUser(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Create and list the admin UI's users and set their passwords",
		Long: `The admin UI and API are used by people with a username, a password and a
role: admin (everything, including users and plugin settings), operator (the
day's work: customers, plans, vouchers, invoices) or viewer (read only).

These commands work on the configured database directly (PostgreSQL, or the
embedded SQLite file in the data directory), so the first admin can be made
before the host has ever run: ` + "`mikrobill user create --username NAME`" + ` on a
store without users makes an admin (the first user must be able to manage
the others); later users are viewers unless --role says otherwise.
` + "`mikrobill user set-role --username NAME ROLE`" + ` changes a role; it refuses to
demote the only enabled admin, as the API does.
Passwords are read twice from the terminal without echo, or once from
standard input with --password-stdin; they must be at least 10 characters.`,
	}
	cmd.AddCommand(newUserCreate(g), newUserList(g), newUserSetPassword(g), newUserSetRole(g), newUserToken(g))
	return cmd
}

func newUserCreate(g *globals) *cobra.Command {
	var username, role string
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "create --username NAME [--role admin|operator|viewer] [--password-stdin]",
		Short: "Create a user (the first one is an admin)",
		Example: `  mikrobill user create --username ana --role admin
  printf '%s\n' "$PASSWORD" | mikrobill user create --username ci --role operator --password-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name := auth.NormalizeUsername(username)
			if err := auth.CheckUsername(name); err != nil {
				return fmt.Errorf("--username: %w", err)
			}
			if role != "" && !web.ValidRole(role) {
				return fmt.Errorf("--role %q: use admin, operator or viewer", role)
			}
			return withUserStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				first := ""
				if role == "" {
					role = web.RoleViewer
					if _, total, err := st.Q().ListUsers(ctx, store.Page{Limit: 1}); err != nil {
						return err
					} else if total == 0 {
						role, first = web.RoleAdmin, " (the first user is an admin, so that someone can manage users; pass --role to choose another)"
					}
				}
				if _, err := st.Q().GetUserByUsername(ctx, name); err == nil {
					return fmt.Errorf("the user %q exists; change its password with `mikrobill user set-password --username %s`", name, name)
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				password, err := readNewPassword(cmd, g, name, fromStdin)
				if err != nil {
					return err
				}
				u, err := auth.NewUser(ctx, auth.HashPassword, name, password, role)
				if err != nil {
					return err
				}
				if err := st.Q().CreateUser(ctx, u); err != nil {
					if errors.Is(err, store.ErrConflict) {
						return fmt.Errorf("the user %q exists; change its password with `mikrobill user set-password --username %s`", name, name)
					}
					return err
				}
				fmt.Fprintf(g.stdout, "created user %s (%s) in the %s database at %s%s\n", u.Username, u.Role, st.Driver(), st.Where(), first)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&username, "username", "", "the new user's name: 3 to 64 lowercase letters, digits, '.', '_', '-' or '@' (required)")
	cmd.Flags().StringVar(&role, "role", "", "admin, operator or viewer (default: admin for the first user of the store, viewer after)")
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input instead of asking twice on the terminal")
	_ = cmd.MarkFlagRequired("username")
	return cmd
}

func newUserSetPassword(g *globals) *cobra.Command {
	var username string
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "set-password --username NAME [--password-stdin]",
		Short: "Set a user's password and sign the user out everywhere",
		Long: `set-password replaces a user's password. The user's browser sessions end at
once and bearer tokens issued before the change stop working; API tokens
keep working (revoke them in the admin UI or with DELETE /api/v1/tokens/ID).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name := auth.NormalizeUsername(username)
			return withUserStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				u, err := st.Q().GetUserByUsername(ctx, name)
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no user %q; `mikrobill user list` shows who exists", name)
				}
				if err != nil {
					return err
				}
				password, err := readNewPassword(cmd, g, name, fromStdin)
				if err != nil {
					return err
				}
				ended, err := auth.SetPassword(ctx, st, auth.HashPassword, u, password)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "password of %s changed; %d session(s) signed out\n", u.Username, ended)
				if u.Disabled {
					fmt.Fprintf(g.stdout, "note: %s is disabled and cannot sign in until an admin enables it\n", u.Username)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&username, "username", "", "whose password to set (required)")
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input instead of asking twice on the terminal")
	_ = cmd.MarkFlagRequired("username")
	return cmd
}

func newUserSetRole(g *globals) *cobra.Command {
	var username string
	cmd := &cobra.Command{
		Use:   "set-role --username NAME admin|operator|viewer",
		Short: "Change a user's role and sign the user out everywhere",
		Long: `set-role gives a user another role. The user's browser sessions and bearer
tokens end at once (the next sign-in carries the new role); API tokens act
with the new role at once. It refuses to take the admin role from the only
enabled admin, as the API and the users page do: make another user admin
first. The change is recorded in the audit log (actor "cli").`,
		Example: `  mikrobill user set-role --username vic operator`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := auth.NormalizeUsername(username)
			role := strings.ToLower(strings.TrimSpace(args[0]))
			if !web.ValidRole(role) {
				return fmt.Errorf("role %q: use admin, operator or viewer", args[0])
			}
			return withUserStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				var old string
				var ended int64
				err := st.Tx(ctx, func(tx *store.Tx) error {
					q := tx.Q()
					u, err := q.GetUserByUsername(ctx, name)
					if errors.Is(err, store.ErrNotFound) {
						return fmt.Errorf("no user %q; `mikrobill user list` shows who exists", name)
					}
					if err != nil {
						return err
					}
					old = u.Role
					if old == role {
						return nil
					}
					if old == web.RoleAdmin && !u.Disabled {
						ids, err := q.ActiveAdmins(ctx)
						if err != nil {
							return err
						}
						if len(ids) == 1 && ids[0] == u.ID {
							return fmt.Errorf("%s is the only enabled admin; make another user admin first (mikrobill user set-role --username OTHER admin), or nobody could manage users", u.Username)
						}
					}
					u.Role = role
					if err := q.UpdateUser(ctx, u); err != nil {
						return err
					}
					if ended, err = q.DeleteUserSessions(ctx, u.ID); err != nil {
						return err
					}
					_, err = q.AppendAudit(ctx, &store.AuditEntry{
						EventID: auditEventID(), OccurredAt: time.Now(), Actor: "cli", Action: "user.updated",
						ResourceType: "user", ResourceID: strconv.FormatInt(u.ID, 10), Outcome: "success",
						Metadata: map[string]string{"username": u.Username, "role": role, "previous_role": old},
					})
					return err
				})
				if err != nil {
					return err
				}
				if old == role {
					fmt.Fprintf(g.stdout, "%s is already %s; nothing changed\n", name, role)
					return nil
				}
				fmt.Fprintf(g.stdout, "%s is now %s (was %s); %d session(s) signed out\n", name, role, old, ended)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&username, "username", "", "whose role to change (required)")
	_ = cmd.MarkFlagRequired("username")
	return cmd
}

// auditEventID is a fresh id for an audit entry the command writes.
func auditEventID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "cli-" + hex.EncodeToString(b[:])
}

func newUserToken(g *globals) *cobra.Command {
	var username, name string
	var expiresIn time.Duration
	cmd := &cobra.Command{
		Use:   "token --username NAME [--name LABEL] [--expires-in DURATION]",
		Short: "Make an API token for a user and print it (once)",
		Long: `token makes an API token ("mbt_...") that acts with the user's role, and
prints it on standard output; only its digest is kept, so store it now.
Scripts and the plugin commands (mikrobill plugin restart, disable, enable)
send it as a bearer token: pass it with --token or MIKROBILL_TOKEN.

Revoke a token in the admin UI or with DELETE /api/v1/tokens/ID.`,
		Example: `  export MIKROBILL_TOKEN=$(mikrobill user token --username ana --name "ops laptop")
  mikrobill plugin restart payment-manual`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			user := auth.NormalizeUsername(username)
			label := strings.TrimSpace(name)
			if label == "" || utf8.RuneCountInString(label) > 100 {
				return errors.New("--name: say what the token is for in 1 to 100 characters, e.g. --name \"backup script\"")
			}
			if expiresIn < 0 {
				return errors.New("--expires-in must be positive (e.g. 720h), or 0 for a token that does not expire")
			}
			return withUserStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				u, err := st.Q().GetUserByUsername(ctx, user)
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no user %q; `mikrobill user list` shows who exists", user)
				}
				if err != nil {
					return err
				}
				if u.Disabled {
					return fmt.Errorf("%s is disabled; its tokens would not work. Enable the user first", u.Username)
				}
				var expires time.Time
				if expiresIn > 0 {
					expires = time.Now().Add(expiresIn)
				}
				tok, rec, err := auth.CreateToken(ctx, st, u.ID, label, expires)
				if err != nil {
					return err
				}
				fmt.Fprintln(g.stdout, tok)
				until := "does not expire"
				if !rec.ExpiresAt.IsZero() {
					until = "expires " + rec.ExpiresAt.Local().Format(time.DateTime)
				}
				fmt.Fprintf(g.stderr, "API token %d (%s) for %s, role %s, %s; it is shown only this once\n", rec.ID, rec.Prefix, u.Username, u.Role, until)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&username, "username", "", "whose token it is; it acts with this user's role (required)")
	cmd.Flags().StringVar(&name, "name", "cli", "what the token is for, shown in the token list")
	cmd.Flags().DurationVar(&expiresIn, "expires-in", 0, "how long the token works, e.g. 720h (default 0: until revoked)")
	_ = cmd.MarkFlagRequired("username")
	return cmd
}

func newUserList(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withUserStore(cmd, g, func(ctx context.Context, st *store.Store) error {
				var users []store.User
				for page := (store.Page{Limit: store.MaxLimit}); ; page.Offset += page.Limit {
					items, total, err := st.Q().ListUsers(ctx, page)
					if err != nil {
						return err
					}
					users = append(users, items...)
					if len(items) == 0 || len(users) >= total {
						break
					}
				}
				if asJSON {
					if users == nil {
						users = []store.User{}
					}
					enc := json.NewEncoder(g.stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(users)
				}
				if len(users) == 0 {
					fmt.Fprintln(g.stdout, "no users yet; create the first admin with `mikrobill user create --username NAME --role admin`")
					return nil
				}
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tUSERNAME\tROLE\tSTATUS\tLAST SIGN-IN\tCREATED")
				for _, u := range users {
					status, last := "enabled", "never"
					if u.Disabled {
						status = "disabled"
					}
					if !u.LastLoginAt.IsZero() {
						last = u.LastLoginAt.Local().Format(time.DateTime)
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Username, u.Role, status, last, u.CreatedAt.Local().Format(time.DateTime))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

// withUserStore opens the configured database (migrating it, as serve
// does) for fn.
func withUserStore(cmd *cobra.Command, g *globals, fn func(ctx context.Context, st *store.Store) error) error {
	cfg, err := g.load(cmd, config.Overrides{})
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	st, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(ctx, st)
}

// readNewPassword reads a new password for username: the first line of
// standard input with --password-stdin, otherwise twice from the terminal
// without echo. It applies the password policy before asking again.
func readNewPassword(cmd *cobra.Command, g *globals, username string, fromStdin bool) (string, error) {
	in := cmd.InOrStdin()
	if fromStdin {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read the password from standard input: %w", err)
		}
		password := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if password == "" {
			return "", errors.New("standard input holds no password; pipe it in, e.g. printf '%s\\n' \"$PASSWORD\" | mikrobill user ... --password-stdin")
		}
		return password, auth.CheckPassword(username, password)
	}
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no terminal to ask for the password on; pass it on standard input with --password-stdin")
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(g.stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(g.stderr)
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		return string(b), nil
	}
	first, err := ask("New password for " + username + ": ")
	if err != nil {
		return "", err
	}
	if err := auth.CheckPassword(username, first); err != nil {
		return "", err
	}
	again, err := ask("Repeat it: ")
	if err != nil {
		return "", err
	}
	if first != again {
		return "", errors.New("the two passwords differ; nothing was changed, try again")
	}
	return first, nil
}
