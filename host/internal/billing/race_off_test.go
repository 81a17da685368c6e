//go:build !race

package billing_test

// raceDetector is set when the tests run with -race.
const raceDetector = false
