plugin "payment-midtrans" {
  config = "server_key=abc"
}
