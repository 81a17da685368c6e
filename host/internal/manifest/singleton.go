package manifest

import (
	"fmt"
	"strings"
)

// SingletonQueuePrefix starts the name of each singleton plugin's job
// queue.
const SingletonQueuePrefix = "singleton_"

// MaxSingletonNameLength bounds a singleton plugin's name: its job queue's
// name (SingletonQueuePrefix and the name) is at most 64 characters, as
// River's queue names are.
const MaxSingletonNameLength = 64 - len(SingletonQueuePrefix)

// SingletonQueue is the job queue of singleton plugin name: only the host
// that runs the plugin works it. It fails for a name River does not take
// in a queue's name (two '-' in a row, a trailing '-', too long), saying
// what to change.
func SingletonQueue(name string) (string, error) {
	switch {
	case len(name) > MaxSingletonNameLength:
		return "", fmt.Errorf("a singleton plugin's name is at most %d characters (it names the plugin's job queue, %q + name, and a queue's name is at most 64); %q has %d: shorten it or drop \"singleton\"",
			MaxSingletonNameLength, SingletonQueuePrefix, name, len(name))
	case strings.Contains(name, "--") || strings.HasSuffix(name, "-"):
		return "", fmt.Errorf("a singleton plugin's name names its job queue, where '-' must stand between letters or digits; %q has two '-' in a row or ends in '-': rename it (such as %q) or drop \"singleton\"",
			name, strings.TrimRight(strings.ReplaceAll(name, "--", "-"), "-"))
	}
	return SingletonQueuePrefix + name, nil
}
