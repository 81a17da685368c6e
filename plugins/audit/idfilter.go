package main

import (
	"hash/maphash"
	"math"
)

// idFilter is a Bloom filter over every event id the log holds (live,
// archived and in the tail), so that an append looks up in the id index
// only the ids the filter cannot rule out: the host's ids are random, a
// retry is rare, and a lookup of 100 random ids in the index cost about a
// fifth of an append (docs/BENCHMARKS.md). It never says no to an id it
// was given; it says maybe to about 1 in 200 others per part. It grows by
// parts of doubling capacity (1,000,000 ids take 1.4 to 2.8 MiB), built on
// opening from the index and the tail, and lives only in memory.
type idFilter struct {
	seed  maphash.Seed
	parts []*bloomPart
}

// bloomPart is one Bloom filter of fixed capacity.
type bloomPart struct {
	bits     []uint64
	m        uint64 // bits
	k        int    // hash functions
	n, limit int    // ids added, capacity
}

// filterFirstPart is the capacity of the first part.
const filterFirstPart = 1 << 16

func newIDFilter() *idFilter {
	return &idFilter{seed: maphash.MakeSeed()}
}

func newBloomPart(capacity int) *bloomPart {
	// About 11.5 bits an id and 8 hash functions: a false positive rate
	// near 0.4% when full.
	m := uint64(math.Ceil(float64(capacity)*11.5/64)) * 64
	return &bloomPart{bits: make([]uint64, m/64), m: m, k: 8, limit: capacity}
}

// hashes returns the two halves of id's hash, for double hashing.
func (f *idFilter) hashes(id string) (uint64, uint64) {
	h := maphash.String(f.seed, id)
	return h, (h >> 32) | (h << 32) | 1
}

// add records id.
func (f *idFilter) add(id string) {
	if len(f.parts) == 0 || f.parts[len(f.parts)-1].n >= f.parts[len(f.parts)-1].limit {
		capacity := filterFirstPart
		if len(f.parts) > 0 {
			capacity = f.parts[len(f.parts)-1].limit * 2
		}
		f.parts = append(f.parts, newBloomPart(capacity))
	}
	p := f.parts[len(f.parts)-1]
	h1, h2 := f.hashes(id)
	for i := range p.k {
		b := (h1 + uint64(i)*h2) % p.m
		p.bits[b/64] |= 1 << (b % 64)
	}
	p.n++
}

// mayHold reports whether id may have been added (false: it was not).
func (f *idFilter) mayHold(id string) bool {
	h1, h2 := f.hashes(id)
	for _, p := range f.parts {
		hit := true
		for i := range p.k {
			b := (h1 + uint64(i)*h2) % p.m
			if p.bits[b/64]&(1<<(b%64)) == 0 {
				hit = false
				break
			}
		}
		if hit {
			return true
		}
	}
	return false
}
