server {
  port            = 3000
  request_timeout = "30 seconds"
}
