package progress_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cutover/cutover/harness/internal/progress"
)

// openPTY opens a pseudo-terminal pair: what a user's terminal is.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here (/dev/ptmx: %v)", err)
	}
	fd := int(m.Fd())
	require.NoError(t, unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	require.NoError(t, err)
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

func TestAutoIsLiveOnATerminal(t *testing.T) {
	t.Setenv("TERM", "xterm-256color")
	master, slave := openPTY(t)
	require.NoError(t, unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 60}))

	d := progress.New(slave, progress.Options{})
	require.True(t, d.Live())
	require.NoError(t, d.Update(status("canary-10", 1, time.Second)))

	buf := make([]byte, 4096)
	require.NoError(t, master.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, err := master.Read(buf)
	require.NoError(t, err)
	out := string(buf[:n])
	require.Contains(t, out, "cutover  staged-cutover")
	for _, l := range strings.Split(strings.TrimRight(out, "\r\n"), "\n") {
		require.LessOrEqual(t, visibleWidth(strings.TrimRight(l, "\r")), 59, "lines are cut to the 60-column terminal: %q", l)
	}

	t.Setenv("TERM", "dumb")
	require.False(t, progress.New(slave, progress.Options{}).Live(), "a dumb terminal gets plain lines")
}
