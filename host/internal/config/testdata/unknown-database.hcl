database {
  url             = "postgres://localhost/mikrobill"
  max_connections = 20
}
