package store

import "fmt"

// Page selects a slice of a list. The zero Page is the first DefaultLimit
// rows.
type Page struct {
	// Limit is how many rows (1 to MaxLimit; 0 means DefaultLimit).
	Limit int
	// Offset is how many rows to skip.
	Offset int
}

// Page limits.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Normalized returns the page with defaults applied, or an error naming
// what is wrong.
func (p Page) Normalized() (Page, error) {
	if p.Limit == 0 {
		p.Limit = DefaultLimit
	}
	if p.Limit < 0 || p.Limit > MaxLimit {
		return p, fmt.Errorf("%w: limit must be between 1 and %d, got %d", ErrInvalid, MaxLimit, p.Limit)
	}
	if p.Offset < 0 {
		return p, fmt.Errorf("%w: offset cannot be negative, got %d", ErrInvalid, p.Offset)
	}
	return p, nil
}

// sql returns the LIMIT/OFFSET clause.
func (p Page) sql() string { return fmt.Sprintf(" LIMIT %d OFFSET %d", p.Limit, p.Offset) }
