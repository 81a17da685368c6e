plugin "payment-midtrans" {
  required = false
  settings = {
    server_key = "x"
  }
}
