package main

import (
	"context"
	"testing"
)

func TestGeneratedClientThroughTransport(t *testing.T) {
	const n = 300
	res, err := run(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	if res.events != n {
		t.Errorf("%d events, want %d", res.events, n)
	}
	// Concurrent calls share batches: far fewer requests than calls (the
	// exact number depends on scheduling; 300 calls fit one batch of
	// 1000 when they all start within the window).
	if res.batches < 1 || res.batches > n/10 {
		t.Errorf("%d batch requests for %d concurrent calls, want between 1 and %d", res.batches, n, n/10)
	}
	t.Logf("%d events, %d batch requests", res.events, res.batches)
}
