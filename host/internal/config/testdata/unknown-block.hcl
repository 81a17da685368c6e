environment = "production"

database {
  url = "postgres://localhost/mikrobill"
}
