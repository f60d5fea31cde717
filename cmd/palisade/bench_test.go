package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestBenchListsItsCommands(t *testing.T) {
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"bench", "--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"differential", "dataplane"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench --help does not list %s:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "helper") {
		t.Errorf("bench --help lists the internal helper:\n%s", out.String())
	}
}

func TestBenchDataplaneRefusesUnknownOutput(t *testing.T) {
	cmd := newRootCmd()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{"bench", "dataplane", "--output", "xml"})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "want table or json") {
		t.Fatalf("got %v, want an error about the output format", err)
	}
}
