// Package importgraph holds the test that keeps cutover's layers apart: it
// reads the import graph with `go list` and fails on an arrow from a lower
// layer to a higher one, or between the stack drivers and the platforms.
// `make lint` runs it; the layers are written down in layers below.
package importgraph
