// Command toxiproxy-server is Toxiproxy's server (its API and proxies),
// built from Toxiproxy's library in this module; the embedded stack runs
// it as its own process.
package main

import (
	"os"

	"github.com/cutover/cutover/internal/toxiserver"
)

func main() { os.Exit(toxiserver.Main(os.Args[1:], os.Stdout)) }
