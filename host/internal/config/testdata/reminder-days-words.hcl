jobs {
  reminder_days = ["seven", "three"]
}
