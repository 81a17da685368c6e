package notify

import (
	"errors"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/sdk"
)

func TestValidateE164(t *testing.T) {
	tests := []struct {
		name  string
		phone string
		// wantErr is a part of the message; empty means valid.
		wantErr string
	}{
		{name: "indonesia", phone: "+6281234567890"},
		{name: "shortest", phone: "+12345678"},
		{name: "longest", phone: "+123456789012345"},
		{name: "us", phone: "+14155552671"},

		{name: "empty", phone: "", wantErr: "a phone number in E.164 form is required"},
		{name: "local number", phone: "081234567890", wantErr: "is a local number; write it with + and the country code"},
		{name: "no plus", phone: "6281234567890", wantErr: "must start with + and the country code"},
		{name: "plus only", phone: "+", wantErr: "has 0 digits, E.164 numbers have 8 to 15"},
		{name: "too short", phone: "+1234567", wantErr: "has 7 digits"},
		{name: "too long", phone: "+1234567890123456", wantErr: "has 16 digits"},
		{name: "zero after plus", phone: "+081234567890", wantErr: "has a 0 after the +"},
		{name: "spaces", phone: "+62 812 3456 7890", wantErr: "remove spaces, dashes and brackets"},
		{name: "dashes", phone: "+62-812-3456-7890", wantErr: "may hold only digits after the +"},
		{name: "brackets", phone: "+1(415)5552671", wantErr: "may hold only digits"},
		{name: "double plus", phone: "++6281234567890", wantErr: "may hold only digits"},
		{name: "whatsapp jid", phone: "6281234567890@s.whatsapp.net", wantErr: "must start with +"},
		{name: "unicode digits", phone: "+٦٢٨١٢٣٤٥٦٧٨٩", wantErr: "may hold only digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateE164(tt.phone)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateE164(%q) = %v, want nil", tt.phone, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateE164(%q) = nil, want an error containing %q", tt.phone, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ValidateE164(%q) = %q, want it to contain %q", tt.phone, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), e164Example) {
				t.Errorf("ValidateE164(%q) = %q, want it to show the example %s", tt.phone, err, e164Example)
			}
			if !errors.Is(err, ErrInvalidRecipient) || !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("ValidateE164(%q) = %v, want it to match ErrInvalidRecipient and sdk.ErrInvalidArgument", tt.phone, err)
			}
		})
	}
}

func TestSendRequestValidate(t *testing.T) {
	valid := func() *SendRequest {
		return &SendRequest{To: "+6281234567890", Text: "Invoice 42 is due.", IdempotencyKey: "invoice-42-1"}
	}
	tests := []struct {
		name   string
		modify func(r *SendRequest)
		// want are parts of the message, in order; none means valid.
		want          []string
		wantRecipient bool
	}{
		{name: "text", modify: func(*SendRequest) {}},
		{name: "attachment only", modify: func(r *SendRequest) {
			r.Text = ""
			r.Attachments = []Attachment{{Filename: "invoice.pdf", MIMEType: "application/pdf", Data: []byte("%PDF")}}
		}},
		{name: "session chosen", modify: func(r *SendRequest) { r.SessionID = "billing" }},

		{name: "bad recipient", modify: func(r *SendRequest) { r.To = "0812345678" },
			want: []string{`to: "0812345678" is a local number`}, wantRecipient: true},
		{name: "no content", modify: func(r *SendRequest) { r.Text = "  " },
			want: []string{"text or an attachment is required"}},
		{name: "empty attachment", modify: func(r *SendRequest) { r.Attachments = []Attachment{{Filename: "a.pdf"}} },
			want: []string{`attachments[0] ("a.pdf") has no data`}},
		{name: "no idempotency key", modify: func(r *SendRequest) { r.IdempotencyKey = "" },
			want: []string{"idempotency_key is required"}},
		{name: "everything wrong at once", modify: func(r *SendRequest) { *r = SendRequest{} },
			want:          []string{"to: a phone number in E.164 form is required", "; text or an attachment is required", "; idempotency_key is required"},
			wantRecipient: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.modify(r)
			err := r.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.want)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("Validate() = %q, want it to contain %q (in this order: %q)", msg, w, tt.want)
				}
				rest = rest[i+len(w):]
			}
			if !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("Validate() = %v, want it to match sdk.ErrInvalidArgument", err)
			}
			if got := errors.Is(err, ErrInvalidRecipient); got != tt.wantRecipient {
				t.Errorf("errors.Is(Validate(), ErrInvalidRecipient) = %v, want %v", got, tt.wantRecipient)
			}
		})
	}
}
