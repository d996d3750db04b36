package embedded

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// watchdog removes the stack's temp dir if the harness dies without
// cleaning up (SIGKILL, a crash). It is a tiny shell process in its own
// process group that holds the read end of a pipe; the harness holds the
// write end. When the harness goes away for any reason the pipe closes, the
// shell reads EOF and removes the directory. Child servers die on their own
// through the parent-death signal.
type watchdog struct {
	w   *os.File
	cmd *exec.Cmd
}

func startWatchdog(dir string) (*watchdog, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("watchdog pipe: %w", err)
	}
	// $0 is the directory; the loop waits a moment for servers to exit
	// after the parent-death signal before removing their files.
	cmd := exec.Command("/bin/sh", "-c", `cat >/dev/null; sleep 1; rm -rf -- "$0"`, dir)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start watchdog: %w", err)
	}
	r.Close()
	go func() { _ = cmd.Wait() }() // reap; the watchdog ends when w closes
	return &watchdog{w: w, cmd: cmd}, nil
}

// stop ends the watchdog after a normal cleanup.
func (d *watchdog) stop() {
	_ = d.w.Close()
}
