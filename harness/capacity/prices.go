package capacity

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// HoursPerMonth is the month prices are computed over: 730 hours
// (8760 hours a year / 12), the month AWS's own calculator uses.
const HoursPerMonth = 730

// DefaultPricesFile names the embedded prices in errors and reports.
const DefaultPricesFile = "harness/capacity/prices.yaml"

//go:embed prices.yaml
var defaultPrices []byte

// Prices are what each platform charges, as written in a prices file.
type Prices struct {
	Heroku []Dyno     `yaml:"heroku" json:"heroku"`
	EC2    []Instance `yaml:"ec2" json:"ec2"`
	EKS    Fee        `yaml:"eks" json:"eks"`
	// File is where the prices were read from.
	File string `yaml:"-" json:"file"`
}

// Dyno is a Heroku dyno size.
type Dyno struct {
	Name       string  `yaml:"name" json:"name"`
	MemoryMB   float64 `yaml:"memory_mb" json:"memory_mb"`
	Cores      float64 `yaml:"cores" json:"cores"`
	MonthlyUSD float64 `yaml:"monthly_usd" json:"monthly_usd"`
	Source     string  `yaml:"source" json:"source"`
	AsOf       string  `yaml:"as_of" json:"as_of"`
}

// Instance is an EC2 instance type (a node of the target's cluster).
type Instance struct {
	Name      string  `yaml:"name" json:"name"`
	VCPU      float64 `yaml:"vcpu" json:"vcpu"`
	MemoryGiB float64 `yaml:"memory_gib" json:"memory_gib"`
	HourlyUSD float64 `yaml:"hourly_usd" json:"hourly_usd"`
	Source    string  `yaml:"source" json:"source"`
	AsOf      string  `yaml:"as_of" json:"as_of"`
}

// Fee is a fixed hourly charge (the EKS control plane).
type Fee struct {
	HourlyUSD float64 `yaml:"hourly_usd" json:"hourly_usd"`
	Source    string  `yaml:"source" json:"source"`
	AsOf      string  `yaml:"as_of" json:"as_of"`
}

// DefaultPrices are the prices shipped with cutover (prices.yaml beside
// this file).
func DefaultPrices() (Prices, error) { return ParsePrices(DefaultPricesFile, defaultPrices) }

// LoadPrices reads a prices file; errors name the file, line and field.
func LoadPrices(path string) (Prices, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Prices{}, fmt.Errorf("read prices: %w", err)
	}
	return ParsePrices(path, b)
}

// ParsePrices decodes and checks a prices file strictly: unknown fields,
// missing or non-positive figures, and entries without a source URL or an
// as_of date (YYYY-MM-DD) are errors naming file:line: field.
func ParsePrices(path string, data []byte) (Prices, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Prices{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(root.Content) == 0 {
		return Prices{}, fmt.Errorf("%s:1: empty prices file", path)
	}
	var p Prices
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return Prices{}, fmt.Errorf("%s: %w", path, err)
	}
	p.File = path
	c := checker{path: path, root: root.Content[0]}
	if len(p.Heroku) == 0 {
		c.bad("heroku", "no dyno sizes")
	}
	for i, d := range p.Heroku {
		f := fmt.Sprintf("heroku[%d]", i)
		c.name(f, d.Name)
		c.positive(f+".memory_mb", d.MemoryMB)
		c.positive(f+".cores", d.Cores)
		c.positive(f+".monthly_usd", d.MonthlyUSD)
		c.cited(f, d.Source, d.AsOf)
	}
	if len(p.EC2) == 0 {
		c.bad("ec2", "no instance types")
	}
	for i, in := range p.EC2 {
		f := fmt.Sprintf("ec2[%d]", i)
		c.name(f, in.Name)
		c.positive(f+".vcpu", in.VCPU)
		c.positive(f+".memory_gib", in.MemoryGiB)
		c.positive(f+".hourly_usd", in.HourlyUSD)
		c.cited(f, in.Source, in.AsOf)
	}
	if p.EKS.HourlyUSD < 0 {
		c.bad("eks.hourly_usd", "negative")
	}
	if p.EKS.HourlyUSD > 0 {
		c.cited("eks", p.EKS.Source, p.EKS.AsOf)
	}
	if len(c.errs) > 0 {
		return Prices{}, fmt.Errorf("%s", strings.Join(c.errs, "\n"))
	}
	return p, nil
}

// Dyno returns the dyno size called name.
func (p Prices) Dyno(name string) (Dyno, bool) {
	for _, d := range p.Heroku {
		if strings.EqualFold(d.Name, name) {
			return d, true
		}
	}
	return Dyno{}, false
}

type checker struct {
	path string
	root *yaml.Node
	errs []string
}

func (c *checker) bad(field, format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf("%s:%d: %s: %s", c.path, c.line(field), field, fmt.Sprintf(format, args...)))
}

func (c *checker) name(f, v string) {
	if strings.TrimSpace(v) == "" {
		c.bad(f+".name", "missing")
	}
}

func (c *checker) positive(f string, v float64) {
	if v <= 0 {
		c.bad(f, "must be a positive number (got %g)", v)
	}
}

func (c *checker) cited(f, source, asOf string) {
	if !strings.HasPrefix(source, "https://") && !strings.HasPrefix(source, "http://") {
		c.bad(f+".source", "every price needs the URL it was read from (got %q)", source)
	}
	if _, err := time.Parse(time.DateOnly, asOf); err != nil {
		c.bad(f+".as_of", "every price needs the date it was read, as YYYY-MM-DD (got %q)", asOf)
	}
}

// line finds the line of a field path such as "ec2[2].hourly_usd": the
// field's own line when present, else the closest enclosing node's.
func (c *checker) line(field string) int {
	n := c.root
	line := n.Line
	for _, part := range strings.Split(field, ".") {
		key, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 {
			key = part[:i]
			if _, err := fmt.Sscanf(part[i:], "[%d]", &idx); err != nil {
				idx = -1
			}
		}
		next := mapValue(n, key)
		if next == nil {
			return line
		}
		n, line = next, next.Line
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
