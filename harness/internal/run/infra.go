package run

import (
	"context"
	"fmt"
	"os"

	"github.com/cutover/cutover/harness/route53"
	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stack/docker"
	"github.com/cutover/cutover/harness/stack/embedded"
)

// StackConfig says which stack to start.
type StackConfig struct {
	// Driver is embedded or docker.
	Driver  string
	Options stack.Options
	Seed    uint64
	// Images (docker driver) override the image settings by name
	// (postgres, redis, mongo, localstack, toxiproxy, service): the
	// scenario's, then CUTOVER_IMAGE_<NAME> from the environment, then
	// ImageFlags ("name=ref").
	Images     map[string]string
	ImageFlags []string
	// Route53Credentials, when set, are the only credentials the embedded
	// driver's Route53 emulator accepts; unset, it accepts any well-formed
	// SigV4 signature (as LocalStack, the docker driver's Route53, does).
	Route53Credentials route53.Credentials
	// Logf receives what a driver wants a person to know (docker: which
	// images run); nil uses the standard logger.
	Logf func(format string, args ...any)
}

// StartStack starts the stack of the named driver. The embedded driver
// runs the Route53 emulator and its weighted DNS server with it.
func StartStack(ctx context.Context, c StackConfig) (stack.Stack, error) {
	switch c.Driver {
	case "embedded":
		return embedded.Start(ctx, c.Options, route53Extra(c.Seed, c.Route53Credentials))
	case "docker":
		if c.Route53Credentials.Required() {
			return nil, fmt.Errorf("the docker driver's Route53 (LocalStack) accepts any credentials: required Route53 credentials need the embedded driver")
		}
		flags, err := docker.ParseImageFlags(c.ImageFlags)
		if err != nil {
			return nil, err
		}
		imgs, err := docker.ResolveImages(c.Images, docker.EnvImages(os.LookupEnv), flags)
		if err != nil {
			return nil, err
		}
		return docker.Start(ctx, docker.Options{Options: c.Options, Seed: c.Seed, Images: imgs, Logf: c.Logf})
	default:
		return nil, fmt.Errorf("unknown stack driver %q (want embedded or docker)", c.Driver)
	}
}

// route53Extra starts the Route53 emulator with the stack.
func route53Extra(seed uint64, creds route53.Credentials) embedded.Extra {
	return func(ctx context.Context, host string) (embedded.ExtraService, error) {
		srv, err := route53.Start(ctx, route53.Options{
			Host:        host,
			Seed:        seed,
			Credentials: creds,
		})
		if err != nil {
			return embedded.ExtraService{}, fmt.Errorf("start route53 emulator: %w", err)
		}
		return embedded.ExtraService{
			Services: []stack.Service{
				{Name: stack.Route53, Endpoint: srv.URL()},
				{Name: stack.DNS, Endpoint: srv.DNSAddr()},
			},
			Apply: func(e *stack.Endpoints) {
				e.Route53URL = srv.URL()
				e.DNSAddr = srv.DNSAddr()
			},
			Close: srv.Close,
		}, nil
	}
}
