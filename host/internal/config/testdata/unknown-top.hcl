environment = "production"

listen_port = 3000
