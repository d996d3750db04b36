package measure

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/scenario"
)

// probeSpec is one measuring run: every request to one platform, with
// that many replicas, at that multiplier, for one short hold.
type probeSpec struct {
	platform   string
	replicas   int
	multiplier float64
	hold       time.Duration
}

// fleets are the Heroku dynos and target replicas of the probe: its
// fleet on its platform, one replica on the other.
func (p probeSpec) fleets() (herokuDynos, awsReplicas int) {
	if p.platform == platform.Heroku {
		return p.replicas, 1
	}
	return 1, p.replicas
}

func (p probeSpec) name() string {
	return fmt.Sprintf("%s-%dr-x%s", p.platform, p.replicas, strconv.FormatFloat(p.multiplier, 'f', -1, 64))
}

// derive writes the scenario of one probe into dir and returns its path.
// It edits the scenario file's own YAML tree, so everything the user
// wrote (service, budgets, DNS, seed, invariants) stays as written; only
// the plan changes: weights 100/0 (or 0/100), one hold, the multiplier,
// the replicas, a gate evaluated over the whole hold that reports rather
// than rolls back, no faults and no quick scaling. Trace and seed data
// paths become absolute, since the file moves.
func derive(f *scenario.File, src []byte, p probeSpec, dir string) (string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return "", fmt.Errorf("derive probe scenario: %w", err)
	}
	root := doc.Content[0]
	heroku, aws := 100, 0
	if p.platform != platform.Heroku {
		heroku, aws = 0, 100
	}
	herokuDynos, awsReplicas := p.fleets()
	set(root, "name", scalar(f.Name+"-capacity-"+p.name()))
	set(child(root, "heroku"), "dynos", scalar(strconv.Itoa(herokuDynos)))
	set(child(root, "aws"), "replicas", scalar(strconv.Itoa(awsReplicas)))
	traffic := child(root, "traffic")
	set(traffic, "multiplier", scalar(strconv.FormatFloat(p.multiplier, 'f', -1, 64)))
	if f.Traffic.Trace != "" {
		set(traffic, "trace", scalar(abs(f.Resolve(f.Traffic.Trace))))
	}
	if f.Traffic.SeedData != "" {
		set(traffic, "seed_data", scalar(abs(f.Resolve(f.Traffic.SeedData))))
	}
	hold := p.hold.String()
	var steps yaml.Node
	if err := steps.Encode([]map[string]any{
		{"set_weights": map[string]int{"heroku": heroku, "aws": aws}},
		{"hold": map[string]string{"name": "capacity", "duration": hold}},
	}); err != nil {
		return "", err
	}
	set(root, "steps", &steps)
	gate := child(root, "gate")
	set(gate, "on_breach", scalar("continue"))
	set(gate, "window", scalar(hold))
	set(gate, "interval", scalar(hold))
	del(root, "quick")
	del(root, "expect")

	out, err := yaml.Marshal(&doc)
	if err != nil {
		return "", fmt.Errorf("derive probe scenario: %w", err)
	}
	path := filepath.Join(dir, p.name()+".yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return "", fmt.Errorf("write probe scenario: %w", err)
	}
	return path, nil
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }

// child returns the mapping under key, creating it.
func child(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.MappingNode {
			return m.Content[i+1]
		}
	}
	n := &yaml.Node{Kind: yaml.MappingNode}
	set(m, key, n)
	return n
}

func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, scalar(key), v)
}

func del(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}
