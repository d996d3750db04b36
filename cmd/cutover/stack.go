package main

import (
	"context"
	"fmt"

	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stack/embedded"
)

// startStack starts the stack of the named driver.
func startStack(ctx context.Context, driver string, opts stack.Options, seed uint64) (stack.Stack, error) {
	switch driver {
	case "embedded":
		return embedded.Start(ctx, opts)
	default:
		return nil, fmt.Errorf("unknown stack driver %q (want embedded or docker)", driver)
	}
}
