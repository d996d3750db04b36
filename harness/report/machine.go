package report

import (
	"sort"
	"strings"
)

// machineView is the report's section on the rehearsal machine: per stage,
// how busy it was and whether it saturated, and what each component used.
type machineView struct {
	Stages     []machineStageView
	Components []string // columns of Cells, busiest first
}

type machineStageView struct {
	Name string
	*StageMachine
	// Cells are the CPU (cores) and peak memory of each component, by
	// machineView.Components.
	Cells []machineCell
}

type machineCell struct {
	Cores float64
	MemMB float64
	Seen  bool
}

// componentGroup folds the replicas of a platform into one component of
// the report ("heroku dynos", "aws replicas"); the summary keeps each.
func componentGroup(name, source, target string) string {
	switch {
	case strings.HasPrefix(name, source+"/"):
		return source + " dynos"
	case strings.HasPrefix(name, target+"/"):
		return target + " replicas"
	}
	return strings.TrimPrefix(name, "stack/")
}

// fillMachine builds the machine section from the stages that were
// sampled; nil when none was.
func fillMachine(v *view) *machineView {
	mv := &machineView{}
	total := map[string]float64{}
	per := make([]map[string]machineCell, 0, len(v.S.Stages))
	for _, st := range v.S.Stages {
		if st.Machine == nil || st.Status == StageSkipped {
			continue
		}
		cells := map[string]machineCell{}
		for _, c := range st.Machine.Components {
			g := componentGroup(c.Name, v.Source, v.Target)
			x := cells[g]
			x.Cores += c.Cores()
			x.MemMB += float64(c.MemoryMax) / (1 << 20)
			x.Seen = true
			cells[g] = x
			total[g] += c.Cores()
		}
		per = append(per, cells)
		mv.Stages = append(mv.Stages, machineStageView{Name: st.Name, StageMachine: st.Machine})
	}
	if len(mv.Stages) == 0 {
		return nil
	}
	for g := range total {
		mv.Components = append(mv.Components, g)
	}
	sort.Slice(mv.Components, func(i, j int) bool {
		a, b := mv.Components[i], mv.Components[j]
		if total[a] != total[b] {
			return total[a] > total[b]
		}
		return a < b
	})
	for i := range mv.Stages {
		for _, g := range mv.Components {
			mv.Stages[i].Cells = append(mv.Stages[i].Cells, per[i][g])
		}
	}
	return mv
}

// machineChart draws the CPU each component used per stage (cores), the
// busiest components first, with the machine's cores as a line.
func machineChart(mv *machineView) barChart {
	bc := barChart{YLabel: "CPU (cores)"}
	for _, st := range mv.Stages {
		bc.Categories = append(bc.Categories, st.Name)
	}
	for i, g := range mv.Components {
		if i == len(seriesColors) {
			break
		}
		bg := barGroup{Name: g, Color: seriesColors[i]}
		for _, st := range mv.Stages {
			bg.Values = append(bg.Values, st.Cells[i].Cores)
		}
		bc.Groups = append(bc.Groups, bg)
	}
	if cores := mv.Stages[0].Cores; cores > 0 {
		bc.Lines = append(bc.Lines, budgetLine{Name: "the machine's cores", Value: float64(cores)})
	}
	return bc
}
