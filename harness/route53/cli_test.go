package route53

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// awsCLI runs the AWS CLI against srv with isolated configuration and
// returns its decoded JSON output (nil for commands that print nothing).
type awsCLI struct {
	t    *testing.T
	bin  string
	env  []string
	url  string
	home string
}

func newAWSCLI(t *testing.T, srv *Server, creds Credentials) *awsCLI {
	bin, err := findAWSCLI()
	if err != nil {
		t.Skip("the AWS CLI is not installed (apt-get install awscli): ", err)
	}
	home := t.TempDir()
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey,
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_PAGER=",
		"AWS_MAX_ATTEMPTS=1",
	}
	for _, k := range []string{"PYENV_ROOT", "PYENV_VERSION"} { // the CLI may be a pyenv shim
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	c := &awsCLI{t: t, bin: bin, env: env, url: srv.URL(), home: home}
	out, err := c.command(context.Background(), "--version").CombinedOutput()
	require.NoError(t, err, string(out))
	t.Logf("%s: %s", bin, strings.TrimSpace(string(out)))
	return c
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

func (c *awsCLI) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = c.env
	cmd.Dir = c.home
	return cmd
}

// run runs "aws --endpoint-url URL route53 args..." and decodes its output.
func (c *awsCLI) run(args ...string) map[string]any {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{"--endpoint-url", c.url, "--output", "json", "route53"}, args...)
	var stderr strings.Builder
	cmd := c.command(ctx, full...)
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	c.t.Logf("aws %s (%s)\n%s%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), out, stderr.String())
	require.NoError(c.t, err, "aws %s: %s", strings.Join(args, " "), stderr.String())
	if len(strings.TrimSpace(string(out))) == 0 {
		return nil
	}
	var v map[string]any
	require.NoError(c.t, json.Unmarshal(out, &v))
	return v
}

// fail runs a command that must fail and returns its stderr.
func (c *awsCLI) fail(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{"--endpoint-url", c.url, "route53"}, args...)
	out, err := c.command(ctx, full...).CombinedOutput()
	require.Error(c.t, err, "aws %s should fail: %s", strings.Join(args, " "), out)
	return string(out)
}

func get(t *testing.T, v any, path ...string) any {
	t.Helper()
	for _, p := range path {
		m, ok := v.(map[string]any)
		require.True(t, ok, "no %s in %v", p, v)
		v = m[p]
	}
	return v
}

// TestAWSCLI drives the emulator with the AWS CLI through every operation,
// with required credentials (the README's block itself runs in cmd/cutover,
// TestREADMEAWSCLI).
func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("the AWS CLI takes about a second per command")
	}
	srv := startEmulator(t, Options{Seed: 21, PropagationDelay: 0})
	cli := newAWSCLI(t, srv, testCreds)

	created := cli.run("create-hosted-zone", "--name", "cutover.test", "--caller-reference", "cli-1")
	zoneID := get(t, created, "HostedZone", "Id").(string)
	require.Equal(t, "cutover.test.", get(t, created, "HostedZone", "Name"))
	require.Len(t, get(t, created, "DelegationSet", "NameServers"), 4)

	byName := cli.run("list-hosted-zones-by-name", "--dns-name", "cutover.test")
	require.Equal(t, zoneID, get(t, byName, "HostedZones").([]any)[0].(map[string]any)["Id"])
	zones := cli.run("list-hosted-zones")
	require.Len(t, get(t, zones, "HostedZones"), 1)
	got := cli.run("get-hosted-zone", "--id", zoneID)
	require.Equal(t, zoneID, get(t, got, "HostedZone", "Id"))

	batch := filepath.Join(cli.home, "split.json")
	require.NoError(t, os.WriteFile(batch, []byte(`{
  "Comment": "aws 25 / heroku 75",
  "Changes": [
    {"Action": "UPSERT", "ResourceRecordSet": {"Name": "api.cutover.test", "Type": "A", "SetIdentifier": "heroku",
      "Weight": 75, "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.10"}]}},
    {"Action": "UPSERT", "ResourceRecordSet": {"Name": "api.cutover.test", "Type": "A", "SetIdentifier": "aws",
      "Weight": 25, "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.20"}]}}
  ]
}`), 0o600))
	changed := cli.run("change-resource-record-sets", "--hosted-zone-id", zoneID, "--change-batch", "file://"+batch)
	changeID := get(t, changed, "ChangeInfo", "Id").(string)
	require.Equal(t, "PENDING", get(t, changed, "ChangeInfo", "Status"))

	cli.run("wait", "resource-record-sets-changed", "--id", changeID)
	status := cli.run("get-change", "--id", changeID)
	require.Equal(t, "INSYNC", get(t, status, "ChangeInfo", "Status"))

	// --max-items pages on the client side with the API's Next* markers.
	page := cli.run("list-resource-record-sets", "--hosted-zone-id", zoneID, "--max-items", "3")
	require.Len(t, get(t, page, "ResourceRecordSets"), 3)
	token := get(t, page, "NextToken").(string)
	rest := cli.run("list-resource-record-sets", "--hosted-zone-id", zoneID, "--max-items", "3", "--starting-token", token)
	sets := get(t, rest, "ResourceRecordSets").([]any)
	require.Len(t, sets, 1)
	require.Equal(t, "heroku", sets[0].(map[string]any)["SetIdentifier"])

	missing := strings.Replace(string(mustRead(t, batch)), `"UPSERT"`, `"DELETE"`, 1)
	missing = strings.Replace(missing, `"heroku"`, `"gcp"`, 1)
	require.NoError(t, os.WriteFile(batch, []byte(missing), 0o600))
	stderr := cli.fail("change-resource-record-sets", "--hosted-zone-id", zoneID, "--change-batch", "file://"+batch)
	require.Contains(t, stderr, "InvalidChangeBatch")
	require.Contains(t, stderr, "Tried to delete resource record set [name='api.cutover.test.', type='A', set-identifier='gcp'] but it was not found")

	del := strings.ReplaceAll(string(mustRead(t, batch)), `"UPSERT"`, `"DELETE"`)
	del = strings.Replace(del, `"gcp"`, `"heroku"`, 1)
	require.NoError(t, os.WriteFile(batch, []byte(del), 0o600))
	cli.run("change-resource-record-sets", "--hosted-zone-id", zoneID, "--change-batch", "file://"+batch)
	deleted := cli.run("delete-hosted-zone", "--id", zoneID)
	require.Equal(t, "PENDING", get(t, deleted, "ChangeInfo", "Status"))
	require.Contains(t, cli.fail("get-hosted-zone", "--id", zoneID), "NoSuchHostedZone")
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
