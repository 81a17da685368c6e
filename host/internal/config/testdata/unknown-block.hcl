environment = "production"

telemetry {
  url = "https://telemetry.example.net"
}
