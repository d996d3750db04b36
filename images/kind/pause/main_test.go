package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/internal/gobuild"
)

func buildPause(t *testing.T) string {
	t.Helper()
	bin, err := gobuild.Binary(t.Context(), "github.com/cutover/cutover/images/kind/pause", "")
	require.NoError(t, err)
	return bin
}

func TestPauseExitsZeroOnTermination(t *testing.T) {
	bin := buildPause(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			var stderr strings.Builder
			cmd := exec.Command(bin)
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			// It keeps running until signalled.
			select {
			case err := <-done:
				t.Fatalf("pause exited before a signal: %v", err)
			case <-time.After(300 * time.Millisecond):
			}
			require.NoError(t, cmd.Process.Signal(sig))
			select {
			case err := <-done:
				require.NoError(t, err, "exit status 0")
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("pause did not exit on " + sig.String())
			}
			require.Contains(t, stderr.String(), "Shutting down, got signal")
		})
	}
}

func TestPauseVersion(t *testing.T) {
	out, err := exec.Command(buildPause(t), "-v").Output()
	require.NoError(t, err)
	require.Equal(t, "pause.go 3.10.1 (cutover)\n", string(out))
}

func TestReapCollectsExitedChildren(t *testing.T) {
	// A child that exits becomes a zombie until its parent waits for it;
	// reap must collect it without blocking.
	cmd := exec.Command("true")
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	stat := filepath.Join("/proc", strconv.Itoa(pid), "stat")
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(stat)
		return err == nil && strings.Contains(string(b), ") Z ")
	}, 5*time.Second, 10*time.Millisecond, "child becomes a zombie")
	reap()
	_, err := os.Stat(stat)
	require.ErrorIs(t, err, os.ErrNotExist, "zombie reaped")
	reap() // nothing left: returns at once
}
