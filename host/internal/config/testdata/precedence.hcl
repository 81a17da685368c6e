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
