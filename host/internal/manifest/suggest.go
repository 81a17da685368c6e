package manifest

import "strings"

// suggest returns the known name closest to an unknown one, or "" when none
// is close enough to be a likely typo. Case, '_' and '-' are ignored, so
// "minHostVersion" suggests "min_host_version".
func suggest(unknown string, known []string) string {
	u := normalizeName(unknown)
	best, bestDist := "", -1
	for _, k := range known {
		dist := editDistance(u, normalizeName(k))
		if bestDist < 0 || dist < bestDist {
			best, bestDist = k, dist
		}
	}
	// A distance of half the word or more is a different word.
	if bestDist < 0 || bestDist > 2 || 2*bestDist >= len(u) {
		return ""
	}
	return best
}

func normalizeName(s string) string {
	return strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(s))
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours each cost 1,
// so "requierd" is 1 away from "required".
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// d[i][j] is the distance between ra[:i] and rb[:j].
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
