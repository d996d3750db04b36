// Package stacktest starts stacks for tests: one call, closed at cleanup.
package stacktest

import (
	"context"
	"testing"
	"time"

	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stack/embedded"
)

// Embedded starts an embedded stack for the test and closes it when the
// test ends. It fails the test if the stack cannot start.
func Embedded(t testing.TB, opts ...func(*stack.Options)) *embedded.Stack {
	t.Helper()
	var o stack.Options
	for _, f := range opts {
		f(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := embedded.Start(ctx, o)
	if err != nil {
		t.Fatalf("start embedded stack: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close embedded stack: %v", err)
		}
	})
	return s
}
