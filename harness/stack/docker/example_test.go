package docker_test

import (
	"context"
	"fmt"
	"log"

	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stack/docker"
)

// Start the stack as containers of the local images (`make images`), each
// on its own loopback address in the host's network, with a reaper that
// removes them if this process dies; check every service and stop it. It
// needs a Docker engine, so it is compiled here but not run: the docker
// driver's tests run the same steps and skip with the reason when no
// engine answers.
func ExampleStart() {
	ctx := context.Background()
	s, err := docker.Start(ctx, docker.Options{Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = s.Close(ctx) }()
	fmt.Println(stack.Healthy(stack.Check(ctx, s.Endpoints())))
}
