package gateway

// Detail adds a fact about the settings to what CheckHealth reports in its
// details ("mode": "live"): what an operator checks first when payments
// fail. Never a secret.
func (e *Env) Detail(key string, value any) {
	if e.details == nil {
		e.details = map[string]any{}
	}
	e.details[key] = value
}
