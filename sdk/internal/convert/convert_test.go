package convert

import (
	"math"
	"strconv"
	"testing"
)

func TestCountToProto(t *testing.T) {
	type count struct {
		in   int
		want uint32
	}
	tests := []count{
		{-1, 0},
		{0, 0},
		{7, 7},
		{math.MaxInt32, math.MaxInt32},
	}
	if strconv.IntSize == 64 {
		var limit uint64 = math.MaxUint32
		tests = append(tests, count{int(limit), math.MaxUint32}, count{int(limit) + 1, math.MaxUint32})
	}
	for _, tt := range tests {
		if got := CountToProto(tt.in); got != tt.want {
			t.Errorf("CountToProto(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
