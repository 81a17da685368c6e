#!/usr/bin/env bash
# The worked example of docs/api.md as one script: sign in through the API
# (no hand-copied token), make a location, a plan and a customer, invoice
# the customer, pay in cash through payment-manual and confirm the payment
# on its signed webhook, then check that the invoice is paid.
#
# Needs curl, jq and openssl, and a running host with the payment-manual
# plugin, e.g. from the repository after `make build`:
#
#   bin/mikrobill serve --listen 127.0.0.1:3917 --plugin-dir "$PWD/bin/plugins" --data-dir /tmp/demo/data &
#   scripts/worked-example.sh
#
# Environment (defaults in brackets):
#   B             the host's base URL [http://127.0.0.1:3917]
#   DATA_DIR      the host's data directory, to create the admin with
#                 `mikrobill user create` [/tmp/demo/data]; set CREATE_USER=0
#                 when the admin exists already
#   MIKROBILL     the mikrobill command [bin/mikrobill if present, else mikrobill]
#   ADMIN_USER, ADMIN_PASSWORD   the admin to sign in as [ana, correct horse battery]
#   SUFFIX        appended to the names it creates, to run it again on the same host [empty]
set -euo pipefail

B=${B:-http://127.0.0.1:3917}
DATA_DIR=${DATA_DIR:-/tmp/demo/data}
ADMIN_USER=${ADMIN_USER:-ana}
ADMIN_PASSWORD=${ADMIN_PASSWORD:-correct horse battery}
SUFFIX=${SUFFIX:-}
if [[ -z ${MIKROBILL:-} ]]; then
	if [[ -x bin/mikrobill ]]; then MIKROBILL=bin/mikrobill; else MIKROBILL=mikrobill; fi
fi
for tool in curl jq openssl; do
	command -v "$tool" >/dev/null || { echo "worked-example: $tool is needed; install it (e.g. apt-get install $tool)" >&2; exit 2; }
done
JSON='Content-Type: application/json'

# api METHOD PATH [BODY]: the answer's JSON on stdout; an HTTP error ends the script with the answer.
api() {
	local out code
	out=$(mktemp)
	code=$(curl -sS -o "$out" -w '%{http_code}' -X "$1" "$B$2" -H "$JSON" ${AUTH:+-H "$AUTH"} ${3:+-d "$3"})
	if [[ $code != 2* ]]; then
		echo "worked-example: $1 $2 answered $code: $(cat "$out")" >&2
		rm -f "$out"
		exit 1
	fi
	cat "$out"
	rm -f "$out"
}

echo "==> the first admin, $ADMIN_USER"
if [[ ${CREATE_USER:-1} != 0 ]]; then
	printf '%s\n' "$ADMIN_PASSWORD" | "$MIKROBILL" user create --username "$ADMIN_USER" --role admin --password-stdin --data-dir "$DATA_DIR"
fi

echo "==> sign in, then an API token for the rest"
JWT=$(api POST /api/v1/auth/login "$(jq -n --arg u "$ADMIN_USER" --arg p "$ADMIN_PASSWORD" '{username: $u, password: $p}')" | jq -r .token)
AUTH="Authorization: Bearer $JWT"
TOKEN=$(api POST /api/v1/tokens '{"name":"worked example'"$SUFFIX"'"}' | jq -r .token)
AUTH="Authorization: Bearer $TOKEN"

echo "==> a location, a plan and a customer"
LOCATION=$(api POST /api/v1/locations '{"name":"main'"$SUFFIX"'","description":"Office router"}' | jq -r .id)
PLAN=$(api POST /api/v1/plans '{"name":"Daily 5 Mbps'"$SUFFIX"'","kind":"hotspot","rate_limit":"5M/5M","validity_seconds":86400,"price":5000,"currency":"IDR"}' | jq -r .id)
CUSTOMER=$(api POST /api/v1/customers "$(jq -n --argjson loc "$LOCATION" --arg u "budi$SUFFIX" '{name: "Budi Santoso", phone: "+6281234567890", router_username: $u, router_password: "s3cret-pass", location_id: $loc}')" | jq -r .id)
echo "location $LOCATION, plan $PLAN, customer $CUSTOMER"

echo "==> an invoice, paid in cash through payment-manual"
INVOICE=$(api POST /api/v1/invoices "$(jq -n --argjson c "$CUSTOMER" --argjson p "$PLAN" '{customer_id: $c, plan_id: $p, due_in_hours: 48}')" | jq -r .id)
PAID=$(api POST "/api/v1/invoices/$INVOICE/pay" '{"gateway":"payment-manual","method":"cash"}')
PAYMENT=$(jq -r .payment.id <<<"$PAID")
AMOUNT=$(jq -r .payment.amount <<<"$PAID")
echo "invoice $INVOICE, payment $PAYMENT, pay page $(jq -r .invoice.payment_url <<<"$PAID")"

echo "==> the money is in: confirm on payment-manual's signed webhook"
SECRET=a-long-shared-secret-1234
api PUT /api/v1/plugin-settings/payment-manual '{"confirm_secret":"'"$SECRET"'"}' >/dev/null
BODY=$(jq -cn --arg id "$PAYMENT" --argjson amount "$AMOUNT" --arg ev "conf-$PAYMENT" '{event_id: $ev, payment_id: $id, amount: $amount, currency: "IDR", confirmed_by: "worked example"}')
SIG="sha256=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)"
curl -sS --fail-with-body -X POST "$B/webhooks/payment-manual" -H "X-Mikrobill-Signature: $SIG" -H "$JSON" -d "$BODY"
echo

STATUS=$(api GET "/api/v1/invoices/$INVOICE" | jq -r .invoice.status)
echo "invoice $INVOICE is $STATUS"
[[ $STATUS == paid ]]
