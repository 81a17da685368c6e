package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RouterConnection is how the router plugin reaches a location's router:
// the RouterOS API's address, its TLS trust and the login. A location has
// at most one; one without is managed as before, through the router
// plugin's own settings. The fields mirror one item of the mikrotik
// plugin's "locations" setting, which the host generates from these
// (web/routers_settings.go).
type RouterConnection struct {
	LocationID int64 `json:"location_id"`
	// LocationName and Plugin are the location's, read along (the router
	// plugin's location id and the plugin that gets the connection).
	LocationName string `json:"location_name"`
	Plugin       string `json:"plugin"`
	// Address is the router's host name or IP address, without a port.
	Address string `json:"address"`
	// Port is the API port (0: the plugin's default, 8728 or 8729 with TLS).
	Port int  `json:"port"`
	TLS  bool `json:"tls"`
	// CAPEM, CertSHA256 and ServerName are the TLS trust (TLS only).
	CAPEM      string `json:"ca_pem"`
	CertSHA256 string `json:"cert_sha256"`
	ServerName string `json:"server_name"`
	Username   string `json:"username"`
	// Password is the router user's password, in clear in memory and
	// encrypted at rest with the store's cipher. Never shown by the API.
	Password string `json:"-"`
	// HasPassword says whether a password is stored (read with a nil
	// cipher, the password is not decrypted and this is all there is).
	HasPassword bool      `json:"has_password"`
	UpdatedAt   time.Time `json:"updated_at"`
}

const routerConnectionSelect = `SELECT c.location_id, l.name, l.plugin, c.address, c.port, c.tls, c.ca_pem, c.cert_sha256,
	c.server_name, c.username, c.password_enc, c.updated_at
	FROM router_connections c JOIN router_locations l ON l.id = c.location_id`

func scanRouterConnection(r Row, cip *Cipher) (*RouterConnection, error) {
	var c RouterConnection
	var tls int64
	var enc string
	var updated int64
	if err := r.Scan(&c.LocationID, &c.LocationName, &c.Plugin, &c.Address, &c.Port, &tls, &c.CAPEM, &c.CertSHA256,
		&c.ServerName, &c.Username, &enc, &updated); err != nil {
		return nil, err
	}
	c.TLS, c.UpdatedAt, c.HasPassword = tls != 0, FromMillis(updated), enc != ""
	if enc != "" && cip != nil {
		plain, err := cip.Decrypt(enc)
		if err != nil {
			return nil, fmt.Errorf("the router password: %w", err)
		}
		c.Password = plain
	}
	return &c, nil
}

// SetRouterConnection stores the connection of location c.LocationID,
// replacing the one it had, with the password encrypted by cip (nil only
// when the password is empty). A missing location is ErrReferenced.
func (q *Queries) SetRouterConnection(ctx context.Context, c *RouterConnection, cip *Cipher) error {
	if c.Address == "" || c.Username == "" {
		return fmt.Errorf("set the router of location %d: %w: the address and the username are required", c.LocationID, ErrInvalid)
	}
	enc := ""
	if c.Password != "" {
		if cip == nil {
			return fmt.Errorf("set the router of location %d: %w", c.LocationID, errNoCipher)
		}
		var err error
		if enc, err = cip.Encrypt(c.Password); err != nil {
			return fmt.Errorf("set the router of location %d: %w", c.LocationID, err)
		}
	}
	tls := 0
	if c.TLS {
		tls = 1
	}
	now := q.store.now()
	_, err := q.db.Exec(ctx, `INSERT INTO router_connections (location_id, address, port, tls, ca_pem, cert_sha256, server_name, username, password_enc, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (location_id) DO UPDATE SET address = excluded.address, port = excluded.port, tls = excluded.tls,
		ca_pem = excluded.ca_pem, cert_sha256 = excluded.cert_sha256, server_name = excluded.server_name,
		username = excluded.username, password_enc = excluded.password_enc, updated_at = excluded.updated_at`,
		c.LocationID, c.Address, c.Port, tls, c.CAPEM, c.CertSHA256, c.ServerName, c.Username, enc, Millis(now))
	if err != nil {
		return fmt.Errorf("set the router of location %d: %w", c.LocationID,
			fieldError(err, ErrReferenced, "location_id", fmt.Sprintf("no location has id %d", c.LocationID)))
	}
	c.UpdatedAt, c.HasPassword = now.Truncate(time.Millisecond), enc != ""
	return nil
}

// GetRouterConnection reads a location's connection, its password
// decrypted with cip (nil: not decrypted). A location without one is ErrNotFound.
func (q *Queries) GetRouterConnection(ctx context.Context, locationID int64, cip *Cipher) (*RouterConnection, error) {
	c, err := scanRouterConnection(q.db.QueryRow(ctx, routerConnectionSelect+" WHERE c.location_id = ?", locationID), cip)
	if err != nil {
		return nil, fmt.Errorf("the router of location %d: %w", locationID, err)
	}
	return c, nil
}

// RouterConnections lists the connections of the locations a router
// plugin manages (every plugin's when plugin is ""), by location name,
// passwords decrypted with cip (nil: not decrypted).
func (q *Queries) RouterConnections(ctx context.Context, plugin string, cip *Cipher) ([]RouterConnection, error) {
	query, args := routerConnectionSelect, []any{}
	if plugin != "" {
		query += " WHERE l.plugin = ?"
		args = append(args, plugin)
	}
	rows, err := q.db.Query(ctx, query+" ORDER BY l.name", args...)
	if err != nil {
		return nil, fmt.Errorf("list the routers: %w", err)
	}
	defer rows.Close()
	var out []RouterConnection
	for rows.Next() {
		c, err := scanRouterConnection(rows, cip)
		if err != nil {
			return nil, fmt.Errorf("list the routers: %w", err)
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

// DeleteRouterConnection removes a location's connection (ErrNotFound when
// it has none); the location stays.
func (q *Queries) DeleteRouterConnection(ctx context.Context, locationID int64) error {
	n, err := q.db.Exec(ctx, "DELETE FROM router_connections WHERE location_id = ?", locationID)
	if err != nil {
		return fmt.Errorf("remove the router of location %d: %w", locationID, err)
	}
	if n == 0 {
		return fmt.Errorf("remove the router of location %d: %w", locationID, ErrNotFound)
	}
	return nil
}

// HasRouterConnection reports whether a location has a connection.
func (q *Queries) HasRouterConnection(ctx context.Context, locationID int64) (bool, error) {
	var n int
	err := q.db.QueryRow(ctx, "SELECT COUNT(*) FROM router_connections WHERE location_id = ?", locationID).Scan(&n)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, fmt.Errorf("the router of location %d: %w", locationID, err)
	}
	return n > 0, nil
}
