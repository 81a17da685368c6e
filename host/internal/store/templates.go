package store

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Template placeholders: what a message template may say between [[ and ]].
const (
	PlaceholderName        = "name"         // the customer's name
	PlaceholderPackage     = "package"      // the plan's name
	PlaceholderPrice       = "price"        // the amount, formatted ("Rp150.000")
	PlaceholderExpiredDate = "expired_date" // when the subscription ends, formatted
	PlaceholderInvoice     = "invoice"      // the invoice number
	PlaceholderPaymentLink = "payment_link" // where to pay
)

// TemplatePlaceholders are every placeholder, in the order documents list
// them.
var TemplatePlaceholders = []string{PlaceholderName, PlaceholderPackage, PlaceholderPrice, PlaceholderExpiredDate, PlaceholderInvoice, PlaceholderPaymentLink}

// Default template names: the messages the billing jobs send.
const (
	TemplateInvoiceCreated  = "invoice_created"
	TemplatePaymentReceived = "payment_received"
	TemplateExpiryReminder  = "expiry_reminder"
	TemplateExpired         = "expired"
)

// DefaultTemplateChannel is the channel of a template that names none.
const DefaultTemplateChannel = "whatsapp"

// DefaultTemplates are the templates SeedTemplates adds when absent: plain
// English that reads well to Indonesian customers (short sentences, no
// idioms; prices arrive formatted, such as "Rp150.000").
func DefaultTemplates() []Template {
	return []Template{
		{Name: TemplateInvoiceCreated, Channel: DefaultTemplateChannel, Body: "Hello [[name]], your invoice [[invoice]] for the [[package]] package is ready.\n" +
			"Amount: [[price]]\nPlease pay before [[expired_date]]: [[payment_link]]\nThank you."},
		{Name: TemplatePaymentReceived, Channel: DefaultTemplateChannel, Body: "Hello [[name]], we have received your payment of [[price]] for invoice [[invoice]].\n" +
			"Your [[package]] package is active until [[expired_date]]. Thank you."},
		{Name: TemplateExpiryReminder, Channel: DefaultTemplateChannel, Body: "Hello [[name]], your [[package]] package ends on [[expired_date]].\n" +
			"Renew now for [[price]] so your internet is not interrupted: [[payment_link]]\nThank you."},
		{Name: TemplateExpired, Channel: DefaultTemplateChannel, Body: "Hello [[name]], your [[package]] package ended on [[expired_date]] and your internet is paused.\n" +
			"Renew for [[price]] to connect again: [[payment_link]]\nThank you."},
	}
}

// TemplateSampleVars are example values for every placeholder, for
// previews.
func TemplateSampleVars() map[string]string {
	return map[string]string{
		PlaceholderName:        "Budi Santoso",
		PlaceholderPackage:     "Home 10M",
		PlaceholderPrice:       "Rp150.000",
		PlaceholderExpiredDate: "25 December 2026",
		PlaceholderInvoice:     "INV-202612-000123",
		PlaceholderPaymentLink: "https://pay.example.com/INV-202612-000123",
	}
}

// placeholderRE finds [[...]] placeholders (anything but brackets inside).
var placeholderRE = regexp.MustCompile(`\[\[([^\[\]]*)\]\]`)

// UnknownPlaceholders returns the placeholders in body that are not
// TemplatePlaceholders, each once, in the order they first appear.
func UnknownPlaceholders(body string) []string {
	var out []string
	for _, m := range placeholderRE.FindAllStringSubmatch(body, -1) {
		if !slices.Contains(TemplatePlaceholders, m[1]) && !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// TemplateError says what is wrong with a template body. It wraps
// ErrInvalid.
type TemplateError struct {
	// Unknown are placeholders no message can fill.
	Unknown []string
	// Missing are placeholders the body uses and the values lack (when
	// rendering).
	Missing []string
}

func (e *TemplateError) Error() string {
	var parts []string
	if len(e.Unknown) > 0 {
		parts = append(parts, "unknown placeholders "+bracketed(e.Unknown)+"; the known ones are "+bracketed(TemplatePlaceholders))
	}
	if len(e.Missing) > 0 {
		parts = append(parts, "no value for "+bracketed(e.Missing))
	}
	return strings.Join(parts, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *TemplateError) Unwrap() error { return ErrInvalid }

func bracketed(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "[[" + n + "]]"
	}
	return strings.Join(out, ", ")
}

// ValidateTemplateBody returns a *TemplateError listing the unknown
// placeholders in body, or nil.
func ValidateTemplateBody(body string) error {
	if unknown := UnknownPlaceholders(body); len(unknown) > 0 {
		return &TemplateError{Unknown: unknown}
	}
	return nil
}

// RenderTemplate replaces each placeholder in body with its value in vars.
// Unknown placeholders, and known ones the body uses without a value in
// vars, are a *TemplateError (a message with a hole is worse than none).
// Values are inserted as they are: the text is a chat message, not HTML.
func RenderTemplate(body string, vars map[string]string) (string, error) {
	if err := ValidateTemplateBody(body); err != nil {
		return "", err
	}
	var missing []string
	out := placeholderRE.ReplaceAllStringFunc(body, func(m string) string {
		name := m[2 : len(m)-2]
		v, ok := vars[name]
		if !ok && !slices.Contains(missing, name) {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", &TemplateError{Missing: missing}
	}
	return out, nil
}

// templateNameRE is what a template name looks like.
var templateNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// ValidTemplateName reports whether name can name a template: a lower case
// letter, then up to 62 lower case letters, digits or underscores, such as
// "expiry_reminder". Channels follow the same rule.
func ValidTemplateName(name string) bool { return templateNameRE.MatchString(name) }

// Template is a message the host sends customers, with placeholders.
type Template struct {
	ID int64 `json:"id"`
	// Name says when it is sent, such as "expiry_reminder"; unique.
	Name string `json:"name"`
	// Channel is how it is sent (DefaultTemplateChannel when empty at
	// creation).
	Channel string `json:"channel"`
	// Body is the text with [[placeholders]]; see TemplatePlaceholders.
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

const templateColumns = "id, name, channel, body, created_at, updated_at"

func scanTemplate(r Row) (*Template, error) {
	var t Template
	var created, updated int64
	if err := r.Scan(&t.ID, &t.Name, &t.Channel, &t.Body, &created, &updated); err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = FromMillis(created), FromMillis(updated)
	return &t, nil
}

// checkTemplate refuses bad names and channels (ErrInvalid) and unknown
// placeholders (*TemplateError, also ErrInvalid).
func checkTemplate(t *Template) error {
	if !ValidTemplateName(t.Name) {
		return fmt.Errorf("%w: the name must be a lower case letter followed by up to 62 lower case letters, digits or underscores, such as %q", ErrInvalid, TemplateExpiryReminder)
	}
	if !ValidTemplateName(t.Channel) {
		return fmt.Errorf("%w: the channel must be a lower case word such as %q", ErrInvalid, DefaultTemplateChannel)
	}
	return ValidateTemplateBody(t.Body)
}

// templateNameTaken says which name is in use when err is ErrConflict.
func templateNameTaken(err error, name string) error {
	return nameTaken(err, "name", fmt.Sprintf("a template named %q exists; choose another name, or change that template instead", name))
}

// CreateTemplate inserts a template and sets its ID and times (and Channel
// when empty). A body with unknown placeholders is a *TemplateError; a name
// in use ErrConflict (a *FieldError on "name").
func (q *Queries) CreateTemplate(ctx context.Context, t *Template) error {
	if t.Channel == "" {
		t.Channel = DefaultTemplateChannel
	}
	if err := checkTemplate(t); err != nil {
		return fmt.Errorf("create template %q: %w", t.Name, err)
	}
	now := q.store.now()
	err := q.db.QueryRow(ctx, `INSERT INTO message_templates (name, channel, body, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`, t.Name, t.Channel, t.Body, Millis(now), Millis(now)).Scan(&t.ID)
	if err != nil {
		return fmt.Errorf("create template %q: %w", t.Name, templateNameTaken(err, t.Name))
	}
	t.CreatedAt, t.UpdatedAt = now.Truncate(time.Millisecond), now.Truncate(time.Millisecond)
	return nil
}

// GetTemplate reads one template.
func (q *Queries) GetTemplate(ctx context.Context, id int64) (*Template, error) {
	t, err := scanTemplate(q.db.QueryRow(ctx, "SELECT "+templateColumns+" FROM message_templates WHERE id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("template %d: %w", id, err)
	}
	return t, nil
}

// GetTemplateByName reads the template with a name, such as
// TemplateExpiryReminder.
func (q *Queries) GetTemplateByName(ctx context.Context, name string) (*Template, error) {
	t, err := scanTemplate(q.db.QueryRow(ctx, "SELECT "+templateColumns+" FROM message_templates WHERE name = ?", name))
	if err != nil {
		return nil, fmt.Errorf("template %q: %w", name, err)
	}
	return t, nil
}

// ListTemplates lists templates by name and returns the total.
func (q *Queries) ListTemplates(ctx context.Context, page Page) ([]Template, int, error) {
	page, err := page.Normalized()
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := q.db.QueryRow(ctx, "SELECT COUNT(*) FROM message_templates").Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count templates: %w", err)
	}
	rows, err := q.db.Query(ctx, "SELECT "+templateColumns+" FROM message_templates ORDER BY name, id"+page.sql())
	if err != nil {
		return nil, 0, fmt.Errorf("list templates: %w", err)
	}
	defer rows.Close()
	var out []Template
	for rows.Next() {
		t, err := scanTemplate(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list templates: %w", err)
		}
		out = append(out, *t)
	}
	return out, total, rows.Err()
}

// UpdateTemplate writes every field of a template but its ID and creation
// time, checked as CreateTemplate does.
func (q *Queries) UpdateTemplate(ctx context.Context, t *Template) error {
	if err := checkTemplate(t); err != nil {
		return fmt.Errorf("update template %d: %w", t.ID, err)
	}
	now := q.store.now()
	n, err := q.db.Exec(ctx, "UPDATE message_templates SET name = ?, channel = ?, body = ?, updated_at = ? WHERE id = ?",
		t.Name, t.Channel, t.Body, Millis(now), t.ID)
	if err != nil {
		return fmt.Errorf("update template %d: %w", t.ID, templateNameTaken(err, t.Name))
	}
	if n == 0 {
		return fmt.Errorf("update template %d: %w", t.ID, ErrNotFound)
	}
	t.UpdatedAt = now.Truncate(time.Millisecond)
	return nil
}

// DeleteTemplate removes a template. SeedTemplates brings a default one
// back.
func (q *Queries) DeleteTemplate(ctx context.Context, id int64) error {
	n, err := q.db.Exec(ctx, "DELETE FROM message_templates WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete template %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete template %d: %w", id, ErrNotFound)
	}
	return nil
}

// SeedTemplates adds each of DefaultTemplates whose name no template has
// yet, leaving the operator's own versions alone, and returns how many it
// added. It is safe to run at every start and from several hosts at once.
func (q *Queries) SeedTemplates(ctx context.Context) (int, error) {
	now := q.store.now()
	added := 0
	for _, t := range DefaultTemplates() {
		n, err := q.db.Exec(ctx, `INSERT INTO message_templates (name, channel, body, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`, t.Name, t.Channel, t.Body, Millis(now), Millis(now))
		if err != nil {
			return added, fmt.Errorf("seed template %q: %w", t.Name, err)
		}
		added += int(n)
	}
	return added, nil
}
