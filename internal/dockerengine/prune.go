package dockerengine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Kinds of resources a run creates.
const (
	KindContainer = "container"
	KindNetwork   = "network"
	KindVolume    = "volume"
)

// Resource is one container, network or volume carrying cutover's labels.
type Resource struct {
	Kind  string `json:"kind"`
	ID    string `json:"id"`
	Name  string `json:"name"`
	Run   string `json:"run"`
	Role  string `json:"role,omitempty"`
	Owner string `json:"owner"`
}

func (r Resource) String() string {
	if r.Role == "" {
		return fmt.Sprintf("%s %s (run %s)", r.Kind, r.Name, r.Run)
	}
	return fmt.Sprintf("%s %s (run %s, %s)", r.Kind, r.Name, r.Run, r.Role)
}

// List returns every container (running or not), network and volume
// labelled as cutover's, limited to one run when run is not empty, sorted
// by kind then name.
func List(ctx context.Context, cli *client.Client, run string) ([]Resource, error) {
	f := client.Filters{}.Add("label", LabelManaged+"=true")
	if run != "" {
		f = f.Add("label", LabelRun+"="+run)
	}
	var out []Resource
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs.Items {
		name := c.ID
		if len(c.Names) > 0 {
			name = c.Names[0][1:] // Docker prefixes names with "/"
		}
		out = append(out, resource(KindContainer, c.ID, name, c.Labels))
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range ns.Items {
		out = append(out, resource(KindNetwork, n.ID, n.Name, n.Labels))
	}
	vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vs.Items {
		out = append(out, resource(KindVolume, v.Name, v.Name, v.Labels))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return kindOrder(out[i].Kind) < kindOrder(out[j].Kind)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func resource(kind, id, name string, labels map[string]string) Resource {
	return Resource{Kind: kind, ID: id, Name: name, Run: labels[LabelRun], Role: labels[LabelRole], Owner: labels[LabelOwner]}
}

// kindOrder is the order of removal: containers hold networks and volumes.
func kindOrder(kind string) int {
	switch kind {
	case KindContainer:
		return 0
	case KindNetwork:
		return 1
	default:
		return 2
	}
}

// PruneOptions say which of cutover's resources to remove.
type PruneOptions struct {
	// Run limits pruning to one run's resources, whether or not the run's
	// process still lives (a stack's own Close uses it).
	Run string
	// All removes the resources of live runs too. Without Run or All only
	// leftovers of dead processes are removed.
	All bool
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
	// Except names containers (by name or id) to leave: the reaper's own.
	Except []string
}

// PruneReport says what was removed (or would be, on a dry run) and what was
// kept because its run is still alive.
type PruneReport struct {
	Removed []Resource `json:"removed"`
	Kept    []Resource `json:"kept"`
}

// Prune removes cutover's containers (with their anonymous volumes), then
// networks, then volumes, as opts says. It goes on past a failed removal
// and returns every failure joined.
func Prune(ctx context.Context, cli *client.Client, opts PruneOptions) (PruneReport, error) {
	all, err := List(ctx, cli, opts.Run)
	if err != nil {
		return PruneReport{}, err
	}
	var rep PruneReport
	var doomed []Resource
	for _, r := range all {
		if r.Kind == KindContainer && (slices.Contains(opts.Except, r.Name) || slices.Contains(opts.Except, r.ID)) {
			continue
		}
		if opts.Run == "" && !opts.All && OwnerAlive(r.Owner) {
			rep.Kept = append(rep.Kept, r)
			continue
		}
		doomed = append(doomed, r)
	}
	if opts.DryRun {
		rep.Removed = doomed
		return rep, nil
	}
	// One kind after the other (containers hold networks and volumes),
	// the resources of a kind at once.
	var errs []error
	for _, kind := range []string{KindContainer, KindNetwork, KindVolume} {
		var batch []Resource
		for _, r := range doomed {
			if r.Kind == kind {
				batch = append(batch, r)
			}
		}
		results := make([]error, len(batch))
		var wg sync.WaitGroup
		for i, r := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = remove(ctx, cli, r)
			}()
		}
		wg.Wait()
		for i, err := range results {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rep.Removed = append(rep.Removed, batch[i])
		}
	}
	return rep, errors.Join(errs...)
}

func remove(ctx context.Context, cli *client.Client, r Resource) error {
	var err error
	switch r.Kind {
	case KindContainer:
		return NewContainer(cli, r.ID, r.Name).Remove(ctx)
	case KindNetwork:
		_, err = cli.NetworkRemove(ctx, r.ID, client.NetworkRemoveOptions{})
	case KindVolume:
		_, err = cli.VolumeRemove(ctx, r.ID, client.VolumeRemoveOptions{Force: true})
	}
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", r, err)
	}
	return nil
}
