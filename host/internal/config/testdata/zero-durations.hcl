# "0s" turns these two off; other durations must be positive.
database {
  statement_timeout = "0s"
}

notifications {
  message_delay = "0s"
}
