package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/harness"
	"github.com/cutover/cutover/harness/route53"
	"github.com/cutover/cutover/harness/stack"
)

func newInfraCmd() *cobra.Command {
	infra := &cobra.Command{
		Use:   "infra",
		Short: "Start, check and clean up the infrastructure of a run (the stack)",
	}
	infra.AddCommand(newInfraUpCmd(), newInfraPruneCmd())
	return infra
}

type infraUpReport struct {
	Driver    string          `json:"driver"`
	Healthy   bool            `json:"healthy"`
	StartMS   float64         `json:"start_ms"`
	Endpoints stack.Endpoints `json:"endpoints"`
	// Route53Credentials are the credentials in force: the required ones,
	// or (required false) the test/test a client may sign with, any other
	// well-formed SigV4 key being accepted too.
	Route53Credentials route53Credentials `json:"route53_credentials"`
	Checks             []stack.Health     `json:"checks,omitempty"`
}

type route53Credentials struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	Required        bool   `json:"required"`
}

// credentialsFlag is --route53-credentials KEY:SECRET.
type credentialsFlag struct{ c *route53.Credentials }

func (f credentialsFlag) String() string {
	if f.c == nil || !f.c.Required() {
		return ""
	}
	return f.c.AccessKeyID + ":" + f.c.SecretAccessKey
}

func (f credentialsFlag) Set(v string) error {
	key, secret, ok := strings.Cut(v, ":")
	if !ok || key == "" || secret == "" {
		return fmt.Errorf("want ACCESS_KEY_ID:SECRET_ACCESS_KEY")
	}
	*f.c = route53.Credentials{AccessKeyID: key, SecretAccessKey: secret}
	return nil
}

func (credentialsFlag) Type() string { return "KEY:SECRET" }

const route53CredentialsUsage = "the only credentials the embedded Route53 emulator accepts (default: any well-formed SigV4 signature, e.g. test:test)"

// awsEnvLine is the shell line that points the AWS CLI at the stack's
// Route53 with the credentials in force.
func awsEnvLine(route53URL string, c route53.Credentials) string {
	return fmt.Sprintf("export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=us-east-1 ROUTE53_URL=%s",
		shellQuote(c.AccessKeyID), shellQuote(c.SecretAccessKey), shellQuote(route53URL))
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// characters that never need quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:+=@%,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func newInfraUpCmd() *cobra.Command {
	var (
		driver string
		check  bool
		seed   uint64
		images []string
		creds  route53.Credentials
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the stack, print its endpoints as JSON, and keep it up until Ctrl-C",
		Long: `Start the stack and print its endpoints as JSON on stdout.

Without --check the stack stays up until Ctrl-C or SIGTERM, then everything is
torn down. With --check every service is health-checked with its real client
(pgx, go-redis, the mongo driver, TCP through each fault proxy), the result is
printed with each service's start time, and the stack is torn down; the exit
code is 0 only if every service was healthy.

The Route53 emulator accepts any well-formed SigV4 signature, as LocalStack
does (sign with test/test); --route53-credentials KEY:SECRET makes it accept
only those and verify the signature. The credentials in force are in the JSON
(route53_credentials) and, without --check, on stderr as an export line for
the AWS CLI.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			t0 := time.Now()
			s, err := harness.StartStack(ctx, harness.StackConfig{
				Driver: driver, Seed: seed, ImageFlags: images, Route53Credentials: creds,
				Logf: func(format string, args ...any) { fmt.Fprintf(cmd.ErrOrStderr(), format+"\n", args...) },
			})
			if err != nil {
				return withCode(exitInfra, err)
			}
			defer func() {
				cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_ = s.Close(cctx)
			}()
			client := creds.ForClient()
			rep := infraUpReport{
				Driver: driver, Healthy: true, Endpoints: s.Endpoints(), StartMS: float64(time.Since(t0).Microseconds()) / 1000,
				Route53Credentials: route53Credentials{AccessKeyID: client.AccessKeyID, SecretAccessKey: client.SecretAccessKey, Required: creds.Required()},
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if check {
				rep.Checks = stack.Check(ctx, s.Endpoints())
				herr := stack.Healthy(rep.Checks)
				rep.Healthy = herr == nil
				if err := enc.Encode(rep); err != nil {
					return err
				}
				if herr != nil {
					return withCode(exitInfra, fmt.Errorf("stack unhealthy: %w", herr))
				}
				return nil
			}
			if err := enc.Encode(rep); err != nil {
				return err
			}
			if creds.Required() {
				fmt.Fprintln(cmd.ErrOrStderr(), "Route53 accepts only these credentials; for the AWS CLI:")
			} else {
				fmt.Fprintln(cmd.ErrOrStderr(), "Route53 accepts any well-formed SigV4 credentials; for the AWS CLI:")
			}
			fmt.Fprintln(cmd.ErrOrStderr(), awsEnvLine(rep.Endpoints.Route53URL, client))
			fmt.Fprintln(cmd.ErrOrStderr(), "stack is up; Ctrl-C to tear it down")
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&driver, "infra", "embedded", "stack driver: embedded|docker")
	cmd.Flags().BoolVar(&check, "check", false, "health-check every service, print the result, tear down and exit")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed for the weighted DNS answers")
	cmd.Flags().Var(credentialsFlag{&creds}, "route53-credentials", route53CredentialsUsage)
	cmd.Flags().StringArrayVar(&images, "image", nil, "docker driver: image for a service, name=ref (postgres, redis, mongo, localstack, toxiproxy, service); repeatable")
	return cmd
}
