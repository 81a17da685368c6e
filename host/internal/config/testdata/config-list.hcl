plugin "payment-midtrans" {
  required = false
  config   = ["server_key", "abc"]
}
