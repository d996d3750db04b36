package dockerengine_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/internal/dockerengine"
	"github.com/cutover/cutover/internal/testsupport"
)

func deadPID(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	require.NoError(t, err)
	_, err = p.Wait()
	require.NoError(t, err)
	return p.Pid
}

func TestOwnerAlive(t *testing.T) {
	host, _ := os.Hostname()
	self := dockerengine.Self()
	var pid int
	var start uint64
	_, err := fmt.Sscanf(self[len(host)+1:], "%d/%d", &pid, &start)
	require.NoError(t, err)
	for _, tc := range []struct {
		owner string
		want  bool
	}{
		{self, true},
		{fmt.Sprintf("%s/%d/%d", host, pid, start+1), false}, // same pid, another process
		{fmt.Sprintf("%s/%d/%d", host, deadPID(t), start), false},
		{"another-host/1/1", true}, // cannot tell: leave it alone
		{"", false},
		{"garbage", false},
		{host + "/x/1", false},
		{host + "/-3/1", false},
	} {
		t.Run(tc.owner, func(t *testing.T) {
			require.Equal(t, tc.want, dockerengine.OwnerAlive(tc.owner))
		})
	}
}

func FuzzOwnerAlive(f *testing.F) {
	f.Add(dockerengine.Self())
	f.Add("h/1/2")
	f.Add("//")
	f.Fuzz(func(t *testing.T, owner string) {
		_ = dockerengine.OwnerAlive(owner) // must not panic on any label value
	})
}

// create makes a network and a volume of run owned by owner.
func create(t *testing.T, cli *client.Client, run, owner string) {
	t.Helper()
	ctx := context.Background()
	labels := dockerengine.Labels(run, "test")
	labels[dockerengine.LabelOwner] = owner
	_, err := cli.NetworkCreate(ctx, "cutover-"+run, client.NetworkCreateOptions{Driver: "bridge", Labels: labels})
	require.NoError(t, err)
	_, err = cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: "cutover-" + run, Labels: labels})
	require.NoError(t, err)
}

func TestPruneRemovesOnlyWhatItShould(t *testing.T) {
	cli := testsupport.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	host, _ := os.Hostname()
	stamp := time.Now().UnixNano() % 1_000_000_000
	deadRun, liveRun := fmt.Sprintf("dead%d", stamp), fmt.Sprintf("live%d", stamp)
	create(t, cli, deadRun, fmt.Sprintf("%s/%d/1", host, deadPID(t)))
	create(t, cli, liveRun, dockerengine.Self())
	t.Cleanup(func() { _, _ = dockerengine.Prune(context.Background(), cli, dockerengine.PruneOptions{Run: liveRun}) })

	names := func(rs []dockerengine.Resource, run string) []string {
		var out []string
		for _, r := range rs {
			if r.Run == run {
				out = append(out, r.Kind+" "+r.Name)
			}
		}
		return out
	}
	both := []string{"network cutover-%s", "volume cutover-%s"}
	want := func(run string) []string { return []string{fmt.Sprintf(both[0], run), fmt.Sprintf(both[1], run)} }

	// A dry run of one run lists its resources and removes nothing.
	rep, err := dockerengine.Prune(ctx, cli, dockerengine.PruneOptions{Run: liveRun, DryRun: true})
	require.NoError(t, err)
	require.Equal(t, want(liveRun), names(rep.Removed, liveRun))
	left, err := dockerengine.List(ctx, cli, liveRun)
	require.NoError(t, err)
	require.Len(t, left, 2, "a dry run removes nothing")

	// Without a run, the dead run's resources go and the live one's stay.
	// (Another test process may prune the dead run at the same time: what
	// this prune removed is a part of it, and afterwards none is left.)
	rep, err = dockerengine.Prune(ctx, cli, dockerengine.PruneOptions{})
	require.NoError(t, err)
	require.Subset(t, want(deadRun), names(rep.Removed, deadRun))
	require.Equal(t, want(liveRun), names(rep.Kept, liveRun))
	left, err = dockerengine.List(ctx, cli, deadRun)
	require.NoError(t, err)
	require.Empty(t, left)
	left, err = dockerengine.List(ctx, cli, liveRun)
	require.NoError(t, err)
	require.Len(t, left, 2)

	rep, err = dockerengine.Prune(ctx, cli, dockerengine.PruneOptions{Run: liveRun})
	require.NoError(t, err)
	require.Equal(t, want(liveRun), names(rep.Removed, liveRun))
	left, err = dockerengine.List(ctx, cli, liveRun)
	require.NoError(t, err)
	require.Empty(t, left)
}
