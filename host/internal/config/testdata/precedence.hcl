# Each setting here is also given by a variable and a flag in
# TestPrecedence, so the test can check which level wins.
environment = "staging"
data_dir    = "/file/data"
log_level   = "warn"
log_json    = true

server {
  host               = "10.0.0.1"
  port               = 4000
  request_timeout    = "40s"
  keep_alive_timeout = "41s"
  body_limit         = 2048
}

plugins {
  dir = "/file/plugins"
}

database {
  url = "postgres://file@file-db:5432/file"
}

cache {
  url        = "redis://file-cache:6379/0"
  key_prefix = "file:"
}

security {
  jwt_secret     = "file-jwt-secret-0123456789abcdef0"
  rate_limit_max = 200
  cors_origins   = ["https://file.example"]
}

notifications {
  message_delay = "2s"
  max_sessions  = 2
}

router {
  default_location {
    host     = "10.1.1.1"
    port     = 8000
    username = "file-user"
    password = "file-pass"
  }
}
