plugins {
  stop_timeout = 5
}
