package store

import (
	"context"
	"fmt"
	"regexp"
	"time"
)

// DefaultRouterPlugin is the router plugin a location uses unless it names
// another.
const DefaultRouterPlugin = "mikrotik"

// locationNameRE is what a location name (the router plugin's location id)
// looks like.
var locationNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// ValidLocationName reports whether name can be a location's name: a lower
// case letter, then up to 62 lower case letters, digits or hyphens, such as
// "main" or "branch-2". Router plugin names follow the same rule.
func ValidLocationName(name string) bool { return locationNameRE.MatchString(name) }

// Location is a router (or a group of routers) that a router plugin manages.
// Customers and voucher batches belong to one.
type Location struct {
	ID int64 `json:"id"`
	// Name is the router plugin's location id, such as "main"; see
	// ValidLocationName.
	Name        string `json:"name"`
	Description string `json:"description"`
	// Plugin is the router plugin that manages it (DefaultRouterPlugin when
	// empty at creation).
	Plugin    string    `json:"plugin"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

const locationColumns = "id, name, description, plugin, created_at, updated_at"

func scanLocation(r Row) (*Location, error) {
	var l Location
	var created, updated int64
	if err := r.Scan(&l.ID, &l.Name, &l.Description, &l.Plugin, &created, &updated); err != nil {
		return nil, err
	}
	l.CreatedAt, l.UpdatedAt = FromMillis(created), FromMillis(updated)
	return &l, nil
}

// checkLocation refuses names and plugin names the router plugins cannot
// use.
func checkLocation(l *Location) error {
	if !ValidLocationName(l.Name) {
		return fmt.Errorf("%w: the name must be a lower case letter followed by up to 62 lower case letters, digits or hyphens, such as \"main\"", ErrInvalid)
	}
	if !ValidLocationName(l.Plugin) {
		return fmt.Errorf("%w: the plugin must be a router plugin's name, such as %q", ErrInvalid, DefaultRouterPlugin)
	}
	return nil
}

// locationNameTaken says which name is in use when err is ErrConflict.
func locationNameTaken(err error, name string) error {
	return nameTaken(err, "name", fmt.Sprintf("a location named %q exists; choose another name", name))
}

// CreateLocation inserts a location and sets its ID and times (and Plugin
// when empty). A name in use is ErrConflict (a *FieldError on "name"); a
// malformed name ErrInvalid.
func (q *Queries) CreateLocation(ctx context.Context, l *Location) error {
	if l.Plugin == "" {
		l.Plugin = DefaultRouterPlugin
	}
	if err := checkLocation(l); err != nil {
		return fmt.Errorf("create location %q: %w", l.Name, err)
	}
	now := q.store.now()
	err := q.db.QueryRow(ctx, `INSERT INTO router_locations (name, description, plugin, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`,
		l.Name, l.Description, l.Plugin, Millis(now), Millis(now)).Scan(&l.ID)
	if err != nil {
		return fmt.Errorf("create location %q: %w", l.Name, locationNameTaken(err, l.Name))
	}
	l.CreatedAt, l.UpdatedAt = now.Truncate(time.Millisecond), now.Truncate(time.Millisecond)
	return nil
}

// GetLocation reads one location.
func (q *Queries) GetLocation(ctx context.Context, id int64) (*Location, error) {
	l, err := scanLocation(q.db.QueryRow(ctx, "SELECT "+locationColumns+" FROM router_locations WHERE id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("location %d: %w", id, err)
	}
	return l, nil
}

// GetLocationByName reads the location with a name.
func (q *Queries) GetLocationByName(ctx context.Context, name string) (*Location, error) {
	l, err := scanLocation(q.db.QueryRow(ctx, "SELECT "+locationColumns+" FROM router_locations WHERE name = ?", name))
	if err != nil {
		return nil, fmt.Errorf("location %q: %w", name, err)
	}
	return l, nil
}

// ListLocations lists locations by name and returns the total.
func (q *Queries) ListLocations(ctx context.Context, page Page) ([]Location, int, error) {
	page, err := page.Normalized()
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := q.db.QueryRow(ctx, "SELECT COUNT(*) FROM router_locations").Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count locations: %w", err)
	}
	rows, err := q.db.Query(ctx, "SELECT "+locationColumns+" FROM router_locations ORDER BY name, id"+page.sql())
	if err != nil {
		return nil, 0, fmt.Errorf("list locations: %w", err)
	}
	defer rows.Close()
	var out []Location
	for rows.Next() {
		l, err := scanLocation(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list locations: %w", err)
		}
		out = append(out, *l)
	}
	return out, total, rows.Err()
}

// UpdateLocation writes every field of a location but its ID and creation
// time. A name in use is ErrConflict (a *FieldError on "name").
func (q *Queries) UpdateLocation(ctx context.Context, l *Location) error {
	if err := checkLocation(l); err != nil {
		return fmt.Errorf("update location %d: %w", l.ID, err)
	}
	now := q.store.now()
	n, err := q.db.Exec(ctx, "UPDATE router_locations SET name = ?, description = ?, plugin = ?, updated_at = ? WHERE id = ?",
		l.Name, l.Description, l.Plugin, Millis(now), l.ID)
	if err != nil {
		return fmt.Errorf("update location %d: %w", l.ID, locationNameTaken(err, l.Name))
	}
	if n == 0 {
		return fmt.Errorf("update location %d: %w", l.ID, ErrNotFound)
	}
	l.UpdatedAt = now.Truncate(time.Millisecond)
	return nil
}

// DeleteLocation removes a location that no customer or voucher batch
// belongs to (ErrReferenced otherwise).
func (q *Queries) DeleteLocation(ctx context.Context, id int64) error {
	n, err := q.db.Exec(ctx, "DELETE FROM router_locations WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete location %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete location %d: %w", id, ErrNotFound)
	}
	return nil
}
