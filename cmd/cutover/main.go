// Command cutover rehearses the migration of a live coupon API from Heroku to
// AWS: it starts the infrastructure, runs the service on a simulated Heroku
// and on the target, shifts traffic through Route53 weights, injects faults,
// and checks that no redemption was lost or doubled.
package main

import (
	"os"
)

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}
