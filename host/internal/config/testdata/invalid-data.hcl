database {
  url       = "mysql://billing:hunter2-secret@db:3306/billing"
  max_conns = 0
}

cache {
  url        = "http://cache:6379"
  key_prefix = "my prefix"
}

security {
  encryption_key  = "too-short"
  cors_origins    = ["billing.example.net"]
  trusted_proxies = ["10.0.0.0/33"]
}

jobs {
  workers        = 0
  fetch_cooldown = "2s"
  poll_interval  = "1s"
  reminder_days  = [7, 7, 400]
}

router {
  default_location {
    username = "admin"
  }
}
