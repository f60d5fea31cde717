package ec2api

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// counterValue reads a counter's value.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// series counts the series a collector exposes.
func series(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	return len(ch)
}

// TestMetricsLabelsAreBounded: a signed request for an action the server
// does not serve is counted under "other", whatever the client named; a
// served action under its name and the code it was answered with.
func TestMetricsLabelsAreBounded(t *testing.T) {
	h := newAPIHarness(t)
	h.fails("InvalidAction", "Made-Up-Action")
	h.fails("InvalidAction", "AnotherOne")
	h.ok("DescribeSecurityGroups")
	h.fails("InvalidGroupId.Malformed", "DescribeSecurityGroups", "GroupId.1", "sg-nope")

	m := h.srv.metrics
	for _, c := range []struct {
		action, code string
		want         float64
	}{
		{"other", "InvalidAction", 2},
		{"DescribeSecurityGroups", "Success", 1},
		{"DescribeSecurityGroups", "InvalidGroupId.Malformed", 1},
	} {
		if got := counterValue(t, m.requests.WithLabelValues(c.action, c.code)); got != c.want {
			t.Errorf("requests{%s,%s} = %v, want %v", c.action, c.code, got, c.want)
		}
	}
	if n := series(m.requests); n != 3 {
		t.Errorf("%d request series, want 3", n)
	}
	if n := series(m.duration); n != 2 {
		t.Errorf("%d duration series, want 2 (other, DescribeSecurityGroups)", n)
	}
}
