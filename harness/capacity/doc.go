// Package capacity answers the question a platform team asks before a
// migration: how big must each platform be, and what does it cost, to
// carry N times the recorded peak? It is pure: it fits the Universal
// Scalability Law to measured (replicas, throughput) points, reads a file
// of prices (each entry with its source and date), sizes the Heroku fleet
// (one dyno size per process type, chosen by peak memory) and the target
// (pod requests from measured CPU and memory plus headroom, bin-packed onto
// nodes after the kubelet and system reservation), and prices both over a
// 730-hour month. The measurement itself is done by the harness (cutover
// capacity); this package only computes.
package capacity
