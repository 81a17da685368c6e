router {
  default_location {
    host = "192.168.88.1"
    user = "admin"
  }
}
