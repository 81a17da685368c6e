environment = "file-env"
