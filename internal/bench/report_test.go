package bench

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
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

// TestMedianCI checks the order statistics that bound the median, against
// the published ranks for 15 and 100 values, and their coverage: drawn
// from a skewed distribution, the interval holds the true median in at
// least 95% of samples.
func TestMedianCI(t *testing.T) {
	seq := func(n int) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = float64(i + 1)
		}
		return s
	}
	for _, c := range []struct {
		n      int
		lo, hi float64
		ok     bool
	}{{15, 4, 12, true}, {100, 40, 61, true}, {6, 1, 6, true}, {5, 0, 0, false}, {0, 0, 0, false}} {
		lo, hi, ok := medianCI(seq(c.n))
		if lo != c.lo || hi != c.hi || ok != c.ok {
			t.Errorf("medianCI of 1..%d = %v, %v, %v; want %v, %v, %v", c.n, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}

	rng := rand.New(rand.NewPCG(1, 2))
	trueMedian := math.Ln2 // of the exponential distribution with rate 1
	for _, n := range []int{15, 40} {
		held, trials := 0, 4000
		for range trials {
			s := make([]float64, n)
			for i := range s {
				s[i] = rng.ExpFloat64()
			}
			slices.Sort(s)
			if lo, hi, _ := medianCI(s); lo <= trueMedian && trueMedian <= hi {
				held++
			}
		}
		if cover := float64(held) / float64(trials); cover < 0.94 {
			t.Errorf("%d values: the interval held the median in %.3f of samples, want 0.95 or more (0.94 allowing for chance)", n, cover)
		}
	}
}

// TestOverFloorVerdicts checks that a ratio over the floor passes only
// when its whole interval reaches the target, misses when none of it
// does, and is undecided otherwise, in the checks and in the table.
func TestOverFloorVerdicts(t *testing.T) {
	runs := func(xs ...float64) []float64 { return xs }
	floor := runs(100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100)
	r := DataplaneResult{
		Floor: TrafficReport{ConnPerSec: floor},
		// 0.92–1.06, median 0.98: the target lies inside the interval, 0.95–1.02.
		Firewall: TrafficReport{ConnPerSec: runs(92, 106, 95, 101, 97, 99, 94, 103, 96, 98, 100, 93, 105, 97, 102)},
		// 0.90–0.94: all of it below.
		ManyGroups: TrafficReport{ConnPerSec: runs(90, 91, 92, 93, 94, 90, 91, 92, 93, 94, 90, 91, 92, 93, 94)},
	}
	r.check()
	if c := r.Checks[checkOverFloor]; c.Pass || !c.Unsure {
		t.Errorf("firewall over the floor, 0.92–1.06 around 0.98: %+v, want undecided", c)
	}
	if c := r.Checks[checkManyOverFloor]; c.Pass || c.Unsure {
		t.Errorf("many groups over the floor, 0.90–0.94: %+v, want missed", c)
	}
	r.ManyGroups.ConnPerSec = runs(98, 99, 100, 101, 102, 98, 99, 100, 101, 102, 98, 99, 100, 101, 102)
	r.check()
	if c := r.Checks[checkManyOverFloor]; !c.Pass || c.Unsure {
		t.Errorf("many groups over the floor, 0.98–1.02: %+v, want passed", c)
	}

	var out strings.Builder
	if err := r.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"0.980× (0.950–1.020)", "UNSURE", "1 undecided", "95% interval of the median 0.950–1.020"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, out.String())
		}
	}
}
