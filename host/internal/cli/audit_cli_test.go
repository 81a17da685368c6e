package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditVerifyProofMissingFile: a proof file that is not there is named,
// with the command that writes one; exit status 1 (cannot be read).
func TestAuditVerifyProofMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "invoice-paid.proof.json")
	code, _, errs := runEnv(t, nil, "audit", "verify-proof", missing, "--public-key", "SHA256:AAAA")
	if code != 1 || !strings.Contains(errs, "no proof file "+missing) || !strings.Contains(errs, "mikrobill audit prove EVENT_ID --out") {
		t.Errorf("verify-proof of a missing file: exit %d, stderr %q; want 1 and the command that writes a proof", code, errs)
	}
}
