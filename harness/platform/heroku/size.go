package heroku

import (
	"fmt"
	"strings"
)

// DynoSize is a Common Runtime dyno type; it sets the memory quota.
type DynoSize string

// Dyno sizes and their quotas (heroku-facts.md §5).
const (
	Standard1X      DynoSize = "standard-1x"
	Standard2X      DynoSize = "standard-2x"
	PerformanceM    DynoSize = "performance-m"
	PerformanceL    DynoSize = "performance-l"
	PerformanceLRAM DynoSize = "performance-l-ram"
	PerformanceXL   DynoSize = "performance-xl"
	Performance2XL  DynoSize = "performance-2xl"
)

const mb = int64(1) << 20

type sizeSpec struct {
	quota int64
	// killAt is the R15 threshold as a multiple of the quota.
	killAt float64
	// label is how Heroku writes the size in "Scaled to web@2:Standard-1X".
	label string
}

var sizes = map[DynoSize]sizeSpec{
	Standard1X:      {quota: 512 * mb, killAt: 2, label: "Standard-1X"},
	Standard2X:      {quota: 1024 * mb, killAt: 2, label: "Standard-2X"},
	PerformanceM:    {quota: 2560 * mb, killAt: 2, label: "Performance-M"},
	PerformanceL:    {quota: 14 * 1024 * mb, killAt: 2, label: "Performance-L"},
	PerformanceLRAM: {quota: 30 * 1024 * mb, killAt: 1.2, label: "Performance-L-RAM"},
	PerformanceXL:   {quota: 62 * 1024 * mb, killAt: 1.2, label: "Performance-XL"},
	Performance2XL:  {quota: 126 * 1024 * mb, killAt: 1.2, label: "Performance-2XL"},
}

// ParseDynoSize reads a size name, case-insensitively ("Standard-1X").
func ParseDynoSize(s string) (DynoSize, error) {
	d := DynoSize(strings.ToLower(s))
	if _, ok := sizes[d]; !ok {
		return "", fmt.Errorf("unknown dyno size %q (want standard-1x, standard-2x, performance-m, performance-l, performance-l-ram, performance-xl or performance-2xl)", s)
	}
	return d, nil
}

// Quota is the memory quota of the size in bytes (R14 above it).
func (d DynoSize) Quota() int64 { return sizes[d].quota }

// KillAt is the R15 threshold in bytes (2× the quota up to Performance-L,
// 1.2× above).
func (d DynoSize) KillAt() int64 {
	s := sizes[d]
	return int64(float64(s.quota) * s.killAt)
}

func (d DynoSize) label() string { return sizes[d].label }
