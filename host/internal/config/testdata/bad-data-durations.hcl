jobs {
  retention = "a day"
}

notifications {
  message_delay = "-1s"
}
