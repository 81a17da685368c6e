# Every block and every key mikrobill.hcl knows.
environment = "production"
data_dir    = "/var/lib/mikrobill"
log_level   = "debug"
log_json    = true

server {
  host               = "0.0.0.0"
  port               = 8080
  request_timeout    = "45s"
  keep_alive_timeout = "1m30s"
  body_limit         = 1048576
  shutdown_timeout   = "20s"
}

plugins {
  dir             = "/opt/mikrobill/plugins"
  start_timeout   = "15s"
  health_interval = "30s"
  health_timeout  = "3s"
  metrics_timeout = "1500ms"
  stop_timeout    = "7s"
  health_failures = 4
  call_wait       = "3s"

  restart {
    initial_backoff = "2s"
    max_backoff     = "30s"
    jitter          = 0.1
    budget          = 8
    window          = "15m"
    cooldown        = "10m"
    stable_after    = "5m"
  }
}

plugin "payment-midtrans" {
  required    = false
  environment = ["staging", "production"]
  config = {
    server_key     = "SB-Mid-server-xxxxxxxx"
    environment    = "sandbox"
    expiry_minutes = 60
    fee_percent    = 2.5
    enabled        = true
    methods        = ["qris", "gopay", "bank_transfer"]
    callbacks = {
      finish = "https://billing.example.net/paid"
      retry  = { attempts = 3, backoff = "10s" }
    }
    nothing = null
  }
}

plugin "mikrotik" {
  required        = true
  start_timeout   = "30s"
  stop_timeout    = "12s"
  call_wait       = "9s"
  health_failures = 6

  restart {
    budget      = 20
    max_backoff = "2m"
  }

  config = {
    locations = [
      { name = "office", host = "192.168.88.1", port = 8728, tls = false },
      { name = "tower", host = "10.10.0.1", port = 8729, tls = true },
    ]
  }
}

plugin "audit" {
  disabled = true
}
