// Empty stand-in: the module proxy does not serve k8s.io/sample-cli-plugin v0.34.4,
// and no binary the node image needs imports it.
module k8s.io/sample-cli-plugin

go 1.24.0
