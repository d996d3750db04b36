// Empty stand-in: the module proxy does not serve k8s.io/sample-controller v0.34.4,
// and no binary the node image needs imports it.
module k8s.io/sample-controller

go 1.24.0
