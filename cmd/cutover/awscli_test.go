package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/internal/testsupport"
)

// TestREADMEAWSCLI runs the README's AWS CLI block verbatim, as a user
// would: `cutover infra up` in a process of its own, the export line it
// prints pasted into a shell, then the block. By default the emulator
// accepts the customary test/test; with --route53-credentials it accepts
// only those, infra up prints them, and test/test is refused.
func TestREADMEAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded stack twice and runs the AWS CLI (about a second a command)")
	}
	awsBin, err := findAWSCLI()
	if err != nil {
		t.Skip("the AWS CLI is not installed (apt-get install awscli, or make deps): ", err)
	}
	block := readmeBlock(t, "## Route53 with the AWS CLI", "```sh\n")
	bin := testsupport.Binary(t, "github.com/cutover/cutover/cmd/cutover")

	for _, tc := range []struct {
		name     string
		flags    []string
		wantLine string // substring of the export line infra up prints
		required bool
	}{
		{"any credentials", nil, "export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 ROUTE53_URL=http://127.0.0.1:", false},
		{"required credentials", []string{"--route53-credentials", "AKIDREHEARSAL:s3cret/with+odd'chars"}, `export AWS_ACCESS_KEY_ID=AKIDREHEARSAL AWS_SECRET_ACCESS_KEY='s3cret/with+odd'\''chars' AWS_DEFAULT_REGION=us-east-1`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := startInfraUp(t, bin, tc.flags...)
			require.Contains(t, up.exportLine, tc.wantLine)
			require.Equal(t, tc.required, up.report.Route53Credentials.Required)
			require.Contains(t, up.exportLine, "ROUTE53_URL="+up.report.Endpoints.Route53URL)

			out, err := runShell(t, awsBin, up.exportLine+"\n"+block)
			require.NoError(t, err, out)
			require.Equal(t, "aws\t25\nheroku\t75\n", out)

			if tc.required {
				habit := "export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 ROUTE53_URL=" + up.report.Endpoints.Route53URL
				out, err := runShell(t, awsBin, habit+"\n"+block)
				require.Error(t, err, out)
				require.Contains(t, out, "InvalidClientTokenId")
			}
			up.stop(t)
		})
	}
}

// readmeBlock returns the first fenced block (opened by fence) after the
// heading in the repository's README.md.
func readmeBlock(t *testing.T, heading, fence string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	s := string(b)
	i := strings.Index(s, "\n"+heading+"\n")
	require.GreaterOrEqual(t, i, 0, "README has no %q", heading)
	j := strings.Index(s[i:], "\n"+fence)
	require.GreaterOrEqual(t, j, 0, "no %q block after %q", fence, heading)
	body := s[i+j+1+len(fence):]
	k := strings.Index(body, "\n```\n")
	require.GreaterOrEqual(t, k, 0, "unterminated block after %q", heading)
	return body[:k+1]
}

type infraUp struct {
	cmd        *exec.Cmd
	report     infraUpReport
	exportLine string
	stderr     *strings.Builder // complete once done has a value
	done       chan error
}

// startInfraUp runs `cutover infra up` and waits until the stack is up.
func startInfraUp(t *testing.T, bin string, flags ...string) *infraUp {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"infra", "up"}, flags...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	up := &infraUp{cmd: cmd, stderr: &strings.Builder{}, done: make(chan error, 1)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-up.done
	})
	ready, stderrDone := make(chan struct{}), make(chan struct{})
	go func() { // ends when the process closes stderr
		defer close(stderrDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			up.stderr.WriteString(line + "\n")
			if strings.HasPrefix(line, "export ") {
				up.exportLine = line
			}
			if strings.HasPrefix(line, "stack is up") {
				close(ready)
			}
		}
	}()
	decoded := make(chan error, 1)
	go func() { // ends when the process exits; Wait only after both pipes are read
		decoded <- json.NewDecoder(stdout).Decode(&up.report)
		_, _ = io.Copy(io.Discard, stdout)
		<-stderrDone
		up.done <- cmd.Wait()
	}()
	timeout := time.After(2 * time.Minute)
	select {
	case <-ready:
	case <-stderrDone:
		t.Fatalf("infra up ended before the stack was up:\n%s", up.stderr)
	case <-timeout:
		t.Fatalf("infra up did not say the stack is up")
	}
	select {
	case err := <-decoded:
		require.NoError(t, err, "infra up's JSON")
	case <-timeout:
		t.Fatalf("infra up printed no JSON")
	}
	return up
}

// stop is Ctrl-C: the stack is torn down and infra up exits 0.
func (u *infraUp) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, u.cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-u.done:
		u.done <- err // for the cleanup
		require.NoError(t, err, u.stderr.String())
	case <-time.After(time.Minute):
		t.Fatalf("infra up did not stop on SIGINT")
	}
}

// runShell runs script with bash in an empty folder and home, with the AWS
// CLI's folder first on PATH, and returns its combined output.
func runShell(t *testing.T, awsBin, script string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + filepath.Dir(awsBin) + ":" + os.Getenv("PATH"),
		"HOME=" + dir,
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"AWS_PAGER=",
		"AWS_MAX_ATTEMPTS=1",
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// findAWSCLI returns $CUTOVER_AWS_CLI, else Debian's awscli package (CLI
// v2, which a pyenv or pip CLI v1 earlier in PATH may shadow), else the
// first aws in PATH.
func findAWSCLI() (string, error) {
	if bin := os.Getenv("CUTOVER_AWS_CLI"); bin != "" {
		return exec.LookPath(bin)
	}
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		return "/usr/bin/aws", nil
	}
	return exec.LookPath("aws")
}
