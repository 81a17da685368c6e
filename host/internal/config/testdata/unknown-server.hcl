server {
  host = "0.0.0.0"
  prot = 3000
}
