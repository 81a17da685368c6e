server {
  port = "eighty"
}
