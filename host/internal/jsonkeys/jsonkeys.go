// Package jsonkeys walks the keys of a JSON document as they are written,
// which encoding/json does not show: it keeps the last of a key given
// twice, and matches struct fields regardless of case. The readers of
// files a person edits (plugin manifests, plugins.lock) use it to refuse
// what would read otherwise than it looks.
package jsonkeys

import (
	"bytes"
	"encoding/json"
)

// Step is one step of a path into a document: an object's key (a string)
// or an array's index (an int).
type Step any

// Walk calls visit for every key of every object in data, in the order
// they are written, with the path to the object, the key, and the keys
// that object had before it (so a key given twice is seen with itself
// among them). It stops at visit's first error and returns it, or the
// decoder's error when data is not valid JSON. path and before are only
// valid during the call.
func Walk(data []byte, visit func(path []Step, key string, before []string) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // a number out of float64's range is not an error here
	var walk func(path []Step) error
	walk = func(path []Step) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			var keys []string
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := kt.(string)
				if err := visit(path, key, keys); err != nil {
					return err
				}
				keys = append(keys, key)
				if err := walk(append(path, key)); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(append(path, i)); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		}
		return err
	}
	return walk(nil)
}
