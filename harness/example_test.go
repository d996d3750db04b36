package harness_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/cutover/cutover/harness"
)

// Run the smoke scenario quickly, as `cutover run scenarios/smoke.yaml
// --quick` does, and read its outcome. In a Go test, harness.Run does the
// same and fails the test when the outcome is not what the scenario
// expects.
func ExampleRunScenario() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "cutover-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	out, err := harness.RunScenario(ctx, "../scenarios/smoke.yaml", harness.Options{
		Quick: true,
		Out:   filepath.Join(dir, "results"),
		// ServiceBinary: your coupon service (default: the reference
		// service, built from its import path).
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, st := range out.Summary.Stages {
		fmt.Println(st.Name, st.Weights["aws"])
	}
	fmt.Println("summary written:", fileExists(filepath.Join(out.Dir, "summary.json")))
	// Output:
	// stage-1-aws-10 10
	// stage-2-aws-50 50
	// stage-3-aws-100 100
	// summary written: true
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
