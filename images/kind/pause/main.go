// Command pause is the sandbox ("pause") container of the kind node image:
// it holds a pod's namespaces open and does nothing else. It does what
// Kubernetes' build/pause/linux/pause.c does: as PID 1 of the pod it reaps
// any child that gets re-parented to it, exits 0 on SIGINT or SIGTERM, and
// otherwise sleeps. With -v it prints its version and exits.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is the tag of the image kubeadm expects for the pause image.
const version = "3.10.1"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Printf("pause.go %s (cutover)\n", version)
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		switch sig {
		case syscall.SIGCHLD:
			reap()
		default:
			fmt.Fprintf(os.Stderr, "Shutting down, got signal: %s\n", sig)
			os.Exit(0)
		}
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
