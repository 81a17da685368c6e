environment = ""
log_level   = "loud"

server {
  port = 70000
}
