plugin "mikrotik" {
  required = true
}

plugin "payment-midtrans" {
  required = false
}

plugin "mikrotik" {
  disabled = true
  config = {
    host = "192.168.88.1"
  }
}
