package embedded_test

import (
	"context"
	"fmt"
	"log"

	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stack/embedded"
)

// Start a stack of local processes (Postgres, Redis, a Mongo-compatible
// store, Toxiproxy with a link per platform and service), check every
// service with its real client, and stop it.
func ExampleStart() {
	ctx := context.Background()
	s, err := embedded.Start(ctx, stack.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = s.Close(ctx) }()

	fmt.Println(stack.Healthy(stack.Check(ctx, s.Endpoints())))
	urls, err := s.Endpoints().For("aws")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(urls.PostgresURL != s.Endpoints().PostgresURL) // through aws's own proxy link
	// Output:
	// <nil>
	// true
}
