package paymenttest

import (
	"bytes"
	"reflect"
	"runtime"
	"strconv"

	"github.com/mikrobill/mikrobill/sdk/payment"
)

// createPaymentFrame is the stack frame of the SDK's server adapter for
// CreatePayment (sdk/payment's server.CreatePayment), which is on the stack
// of every goroutine serving a CreatePayment call in this process, whatever
// the implementation. paymenttest's own tests fail if it goes stale.
var createPaymentFrame = serverFrame("CreatePayment")

// getPaymentFrame and handleWebhookFrame are the same frames of GetPayment
// and HandleWebhook.
var (
	getPaymentFrame    = serverFrame("GetPayment")
	handleWebhookFrame = serverFrame("HandleWebhook")
)

func serverFrame(method string) string {
	return reflect.TypeFor[payment.Money]().PkgPath() + ".(*server)." + method + "("
}

// The cancel check counts the handlers that started while its call ran and
// were still running after it; a CreatePayment of another in-process
// plugin, served by a parallel test at the same moment and still running
// seconds later, would be counted too. Run the cancel check of one
// in-process gateway at a time.

// handlersRunning returns the ids of the goroutines in this process whose
// stack holds frame.
func handlersRunning(frame string) map[int64]bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[int64]bool{}
	want := []byte(frame)
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		if !bytes.Contains(g, want) {
			continue
		}
		// "goroutine 42 [select]:"
		rest, ok := bytes.CutPrefix(g, []byte("goroutine "))
		if !ok {
			continue
		}
		idText, _, _ := bytes.Cut(rest, []byte(" "))
		if id, err := strconv.ParseInt(string(idText), 10, 64); err == nil {
			out[id] = true
		}
	}
	return out
}

// newHandlers counts the goroutines in now that are not in before.
func newHandlers(before, now map[int64]bool) int {
	n := 0
	for id := range now {
		if !before[id] {
			n++
		}
	}
	return n
}
