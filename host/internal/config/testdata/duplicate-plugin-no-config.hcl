plugin "audit" {}
plugin "audit" {
  disabled = true
}
