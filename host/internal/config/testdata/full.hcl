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
  host_id            = "billing-1"
  heartbeat_interval = "5s"
}

plugins {
  dir              = "/opt/mikrobill/plugins"
  start_timeout    = "15s"
  health_interval  = "30s"
  health_timeout   = "3s"
  metrics_timeout  = "1500ms"
  stop_timeout     = "7s"
  health_failures  = 4
  call_wait        = "3s"
  history_interval = "10s"

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

database {
  url               = "postgres://mikrobill:s3cret@db.internal:5432/mikrobill?sslmode=require"
  max_conns         = 20
  min_conns         = 2
  conn_max_lifetime = "30m"
  statement_timeout = "0s"
}

cache {
  url         = "rediss://:r3dis@cache.internal:6380/2"
  max_entries = 5000
  key_prefix  = "billing-a:"
}

security {
  jwt_secret        = "jwt-0123456789abcdef0123456789abcdef"
  cookie_secret     = "cookie-0123456789abcdef0123456789abcdef"
  encryption_key    = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
  session_ttl       = "12h"
  jwt_ttl           = "15m"
  cors_origins      = ["https://billing.example.net", "http://localhost:5173"]
  rate_limit_max    = 300
  rate_limit_window = "30s"
  trusted_proxies   = ["10.0.0.0/8", "192.168.1.10", "::1"]
}

jobs {
  workers               = 4
  fetch_cooldown        = "40ms"
  poll_interval         = "500ms"
  expiry_check_interval = "1m"
  reminder_days         = [14, 7, 1, 0]
  retention             = "72h"
  job_timeout           = "30s"
  rescue_after          = "45s"
}

notifications {
  plugin        = "whatsapp"
  session       = "billing-number"
  message_delay = "2500ms"
  max_sessions  = 3
}

router {
  default_location {
    name     = "office"
    host     = "192.168.88.1"
    port     = 8729
    username = "billing"
    password = "r0uter-pass"
    tls      = true
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

operator {
  name     = "Net Désa"
  address  = "Jl. Merdeka 1\nBandung"
  tax_id   = "01.234.567.8-901.000"
  logo     = "/etc/mikrobill/logo.png"
  language = "en"
}
