server {
  port = 3000
