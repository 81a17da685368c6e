# a marketplace block takes url and root only
marketplace "demo" {
  url  = "file:///srv/marketplace/repository"
  root = "demo-root.json"
  key  = "x"
}
