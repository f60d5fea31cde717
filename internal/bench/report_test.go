package bench

import (
	"reflect"
	"testing"
)

// TestPairedRatios checks the ratios of paired runs and their summary:
// the median, the quartiles (interpolated) and the extremes.
func TestPairedRatios(t *testing.T) {
	got := pairedRatios([]float64{90, 100, 110, 95, 105}, []float64{100, 100, 100, 100, 100, 100})
	want := RatioReport{Runs: []float64{0.9, 1, 1.1, 0.95, 1.05}, Median: 1, Min: 0.9, Max: 1.1, Q1: 0.95, Q3: 1.05}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pairedRatios = %+v, want %+v", got, want)
	}
	got = pairedRatios([]float64{1, 2, 3, 4}, []float64{1, 1, 1, 1})
	if got.Q1 != 1.75 || got.Median != 2.5 || got.Q3 != 3.25 {
		t.Errorf("quartiles of 1, 2, 3, 4: %+v, want 1.75, 2.5, 3.25", got)
	}
	if got := pairedRatios(nil, nil); got.Runs != nil || got.Median != 0 {
		t.Errorf("no runs: %+v", got)
	}
}
