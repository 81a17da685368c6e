marketplace "demo" {
  url  = "file:///srv/marketplace/repository"
  root = "demo-root.json"
}

marketplace "demo" {
  url  = "https://plugins.example.net/repository"
  root = "demo-root.json"
}
