jobs {
  retention = "0s"
}
