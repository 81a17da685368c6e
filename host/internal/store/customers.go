package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// errNoCipher: a method that reads or writes a secret was given no Cipher.
var errNoCipher = errors.New("no encryption key: set security.encryption_key (MIKROBILL_ENCRYPTION_KEY) so secrets can be stored")

// Customer is a subscriber: who they are, how to reach them, and their
// login on the router of their location.
type Customer struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Phone is in E.164 ("+6281234567890") or empty.
	Phone string `json:"phone"`
	Email string `json:"email"`
	// RouterUsername is the hotspot user or PPP secret name; unique per
	// location.
	RouterUsername string `json:"router_username"`
	// RouterPassword is the router login's password, in clear. It is
	// stored encrypted; GetCustomer and GetCustomerByRouterUsername decrypt
	// it, lists leave it empty. It never appears in JSON.
	RouterPassword string `json:"-"`
	// RouterPasswordSet says whether a router password is stored.
	RouterPasswordSet bool      `json:"router_password_set"`
	LocationID        int64     `json:"location_id"`
	Notes             string    `json:"notes"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

const customerColumns = "id, name, phone, email, router_username, router_password_enc, location_id, notes, created_at, updated_at"

// scanCustomer reads a row; with a cipher it decrypts the router password,
// without it leaves RouterPassword empty.
func scanCustomer(r Row, cip *Cipher) (*Customer, error) {
	var c Customer
	var enc string
	var created, updated int64
	if err := r.Scan(&c.ID, &c.Name, &c.Phone, &c.Email, &c.RouterUsername, &enc, &c.LocationID, &c.Notes, &created, &updated); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = FromMillis(created), FromMillis(updated)
	c.RouterPasswordSet = enc != ""
	if cip != nil && enc != "" {
		plain, err := cip.Decrypt(enc)
		if err != nil {
			return nil, fmt.Errorf("router password: %w", err)
		}
		c.RouterPassword = plain
	}
	return &c, nil
}

// sealPassword encrypts a router password for storage.
func sealPassword(password string, cip *Cipher) (string, error) {
	if password == "" {
		return "", nil
	}
	if cip == nil {
		return "", errNoCipher
	}
	return cip.Encrypt(password)
}

// customerRefused says which value was refused when err is ErrConflict
// (the router username, unique per location) or ErrReferenced (the
// location, the one record a customer refers to).
func customerRefused(err error, c *Customer) error {
	err = nameTaken(err, "router_username",
		fmt.Sprintf("another customer at this location has the router username %q; choose another", c.RouterUsername))
	return fieldError(err, ErrReferenced, "location_id", fmt.Sprintf("no location has id %d", c.LocationID))
}

// CreateCustomer inserts a customer, with the router password encrypted by
// cip, and sets its ID and times. A router username already used at the
// location is ErrConflict; a missing location ErrReferenced (both a
// *FieldError).
func (q *Queries) CreateCustomer(ctx context.Context, c *Customer, cip *Cipher) error {
	enc, err := sealPassword(c.RouterPassword, cip)
	if err != nil {
		return fmt.Errorf("create customer %q: %w", c.Name, err)
	}
	now := q.store.now()
	err = q.db.QueryRow(ctx, `INSERT INTO customers (name, phone, email, router_username, router_password_enc, location_id, notes,
		created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		c.Name, c.Phone, c.Email, c.RouterUsername, enc, c.LocationID, c.Notes, Millis(now), Millis(now)).Scan(&c.ID)
	if err != nil {
		return fmt.Errorf("create customer %q: %w", c.Name, customerRefused(err, c))
	}
	c.RouterPasswordSet = enc != ""
	c.CreatedAt, c.UpdatedAt = now.Truncate(time.Millisecond), now.Truncate(time.Millisecond)
	return nil
}

// GetCustomer reads one customer and decrypts the router password with cip
// (a nil cip leaves RouterPassword empty). A password encrypted with
// another key is ErrDecrypt.
func (q *Queries) GetCustomer(ctx context.Context, id int64, cip *Cipher) (*Customer, error) {
	c, err := scanCustomer(q.db.QueryRow(ctx, "SELECT "+customerColumns+" FROM customers WHERE id = ?", id), cip)
	if err != nil {
		return nil, fmt.Errorf("customer %d: %w", id, err)
	}
	return c, nil
}

// GetCustomerByRouterUsername reads the customer with a router login at a
// location, as GetCustomer does.
func (q *Queries) GetCustomerByRouterUsername(ctx context.Context, locationID int64, username string, cip *Cipher) (*Customer, error) {
	c, err := scanCustomer(q.db.QueryRow(ctx, "SELECT "+customerColumns+" FROM customers WHERE location_id = ? AND router_username = ?",
		locationID, username), cip)
	if err != nil {
		return nil, fmt.Errorf("customer %q at location %d: %w", username, locationID, err)
	}
	return c, nil
}

// CustomerFilter narrows ListCustomers. The zero filter lists everyone.
type CustomerFilter struct {
	// LocationID keeps the customers of one location (0: every location).
	LocationID int64
	// Query keeps customers whose name, phone or router username contains
	// it, ignoring case (empty: no text filter).
	Query string
}

// likeEscaper escapes LIKE's wildcards (the queries say ESCAPE '\').
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// where returns the filter's WHERE clause and arguments.
func (f CustomerFilter) where() (string, []any) {
	var conds []string
	var args []any
	if f.LocationID != 0 {
		conds = append(conds, "location_id = ?")
		args = append(args, f.LocationID)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		pat := "%" + likeEscaper.Replace(strings.ToLower(q)) + "%"
		conds = append(conds, `(LOWER(name) LIKE ? ESCAPE '\' OR LOWER(phone) LIKE ? ESCAPE '\' OR LOWER(router_username) LIKE ? ESCAPE '\')`)
		args = append(args, pat, pat, pat)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListCustomers lists the customers a filter keeps, by name, and returns
// their total. RouterPassword is left empty (RouterPasswordSet is filled):
// read one customer with GetCustomer for the password.
func (q *Queries) ListCustomers(ctx context.Context, f CustomerFilter, page Page) ([]Customer, int, error) {
	page, err := page.Normalized()
	if err != nil {
		return nil, 0, err
	}
	where, args := f.where()
	var total int
	if err := q.db.QueryRow(ctx, "SELECT COUNT(*) FROM customers"+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count customers: %w", err)
	}
	rows, err := q.db.Query(ctx, "SELECT "+customerColumns+" FROM customers"+where+" ORDER BY name, id"+page.sql(), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list customers: %w", err)
	}
	defer rows.Close()
	var out []Customer
	for rows.Next() {
		c, err := scanCustomer(rows, nil)
		if err != nil {
			return nil, 0, fmt.Errorf("list customers: %w", err)
		}
		out = append(out, *c)
	}
	return out, total, rows.Err()
}

// UpdateCustomer writes every field of a customer but its ID and creation
// time, the router password encrypted anew with cip. To keep the password,
// read the customer with GetCustomer (which decrypts it) and change the
// other fields. Refusals are as CreateCustomer's.
func (q *Queries) UpdateCustomer(ctx context.Context, c *Customer, cip *Cipher) error {
	enc, err := sealPassword(c.RouterPassword, cip)
	if err != nil {
		return fmt.Errorf("update customer %d: %w", c.ID, err)
	}
	now := q.store.now()
	n, err := q.db.Exec(ctx, `UPDATE customers SET name = ?, phone = ?, email = ?, router_username = ?, router_password_enc = ?,
		location_id = ?, notes = ?, updated_at = ? WHERE id = ?`,
		c.Name, c.Phone, c.Email, c.RouterUsername, enc, c.LocationID, c.Notes, Millis(now), c.ID)
	if err != nil {
		return fmt.Errorf("update customer %d: %w", c.ID, customerRefused(err, c))
	}
	if n == 0 {
		return fmt.Errorf("update customer %d: %w", c.ID, ErrNotFound)
	}
	c.RouterPasswordSet = enc != ""
	c.UpdatedAt = now.Truncate(time.Millisecond)
	return nil
}

// DeleteCustomer removes a customer that nothing refers to (ErrReferenced
// while subscriptions, invoices or redeemed vouchers name them).
func (q *Queries) DeleteCustomer(ctx context.Context, id int64) error {
	n, err := q.db.Exec(ctx, "DELETE FROM customers WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete customer %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete customer %d: %w", id, ErrNotFound)
	}
	return nil
}

// CustomerCursor is where a keyset page of customers starts: after the
// customer with this name and id, in ListCustomersAfter's order. The zero
// cursor starts at the first customer.
type CustomerCursor struct {
	Name string
	ID   int64
}

// ListCustomersAfter lists up to limit customers the filter keeps, by
// name then id, after the cursor: a keyset page, whose cost does not grow
// with how far into the list it is (ListCustomers' offset does). The last
// customer of a page is the next page's cursor. No total is counted.
// RouterPassword is left empty as in ListCustomers.
func (q *Queries) ListCustomersAfter(ctx context.Context, f CustomerFilter, after CustomerCursor, limit int) ([]Customer, error) {
	page, err := Page{Limit: limit}.Normalized()
	if err != nil {
		return nil, err
	}
	where, args := f.where()
	if after.ID != 0 {
		cond := "(name > ? OR (name = ? AND id > ?))"
		args = append(args, after.Name, after.Name, after.ID)
		if where == "" {
			where = " WHERE " + cond
		} else {
			where += " AND " + cond
		}
	}
	rows, err := q.db.Query(ctx, "SELECT "+customerColumns+" FROM customers"+where+fmt.Sprintf(" ORDER BY name, id LIMIT %d", page.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	defer rows.Close()
	out := make([]Customer, 0, page.Limit)
	for rows.Next() {
		c, err := scanCustomer(rows, nil)
		if err != nil {
			return nil, fmt.Errorf("list customers: %w", err)
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}
