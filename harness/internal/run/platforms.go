package run

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/client"
	"github.com/cutover/cutover/harness/internal/partner"
	"github.com/cutover/cutover/harness/internal/replay"
	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/heroku"
	"github.com/cutover/cutover/harness/platform/heroku/routerlog"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/stack/docker"
	"github.com/cutover/cutover/internal/proc"
)

// sharedPort finds a port free on both platform addresses.
func sharedPort() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", netip.AddrPortFrom(herokuAddr, 0).String())
		if err != nil {
			return 0, fmt.Errorf("find a port for the platforms: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", netip.AddrPortFrom(targetAddr, uint16(port)).String())
		l.Close()
		if err == nil {
			l2.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no port free on both %s and %s", herokuAddr, targetAddr)
}

// serviceSpec is the service as deployed on one platform: its data
// services reached through that platform's fault proxies.
func (r *rehearsal) serviceSpec(ctx context.Context, link string) (platform.ServiceSpec, error) {
	urls, err := r.stack.Endpoints().For(link)
	if err != nil {
		return platform.ServiceSpec{}, err
	}
	svc := r.p.scn.Service
	cmd := svc.Command
	if len(cmd) == 0 {
		bin, err := findService(ctx, r.opts.ServiceBinary)
		if err != nil {
			return platform.ServiceSpec{}, err
		}
		cmd = []string{bin}
	}
	env := map[string]string{
		"DATABASE_URL":        urls.PostgresURL,
		"REDIS_URL":           urls.RedisURL,
		"MONGODB_URL":         urls.MongoURL,
		"APP_ID":              appID,
		"APP_TOKEN":           appToken,
		"COUPONAPI_BUGS":      strings.Join(svc.Bugs, ","),
		"PARTNER_WEBHOOK_URL": r.partner.URL(),
		// Keep serving for a moment after SIGTERM: Heroku's router (and a
		// load balancer) go on sending to a stopping instance until they
		// notice, and a server that closes its keep-alive connections at
		// once turns those requests into H13s.
		"SHUTDOWN_DELAY": "2s",
	}
	for k, v := range svc.Env {
		env[k] = v
	}
	image := svc.Image
	if ds, ok := r.stack.(*docker.Stack); ok && image == "" {
		image = ds.ServiceImage()
	}
	return platform.ServiceSpec{Name: "couponapi", Command: cmd, Image: image, Env: env}, nil
}

// runners returns how each platform starts replicas: as OS processes with
// the embedded stack (nil: the platforms' default), as containers with the
// docker stack — on the host's network, so a replica's EGRESS_ADDR is a
// loopback address the partner endpoint sees, and for Heroku with a real
// cgroup memory limit at the dyno size's R15 threshold, so the kernel's OOM
// kill is the R15.
func (r *rehearsal) runners(size heroku.DynoSize) (herokuRunner, targetRunner proc.Runner) {
	ds, ok := r.stack.(*docker.Stack)
	if !ok {
		return nil, nil
	}
	kill := size.KillAt()
	if q := r.p.scn.Heroku.MemoryQuotaMB; q > 0 {
		kill = int64(q) << 20 * size.KillAt() / size.Quota()
	}
	return ds.Runner(docker.RunnerOptions{MemoryLimit: kill}),
		ds.Runner(docker.RunnerOptions{})
}

// startPlatforms starts the partner endpoint, the Heroku app and the
// target, and deploys the service on both at once.
func (r *rehearsal) startPlatforms(ctx context.Context) error {
	var err error
	if r.partner, err = partner.Start("127.0.0.1"); err != nil {
		return err
	}
	r.onClose(func(context.Context) error { return r.partner.Close() })
	if pa := r.p.scn.Partner; pa != nil && pa.AllowTargetOnly {
		r.partner.Allow(targetEgress)
	}
	if r.port, err = sharedPort(); err != nil {
		return err
	}

	h := r.p.scn.Heroku
	size, err := heroku.ParseDynoSize(h.DynoSize)
	if err != nil {
		return err
	}
	herokuRunner, targetRunner := r.runners(size)
	r.herokuLogs = newLogFiles(r.folder, func(line []byte) string {
		e, err := routerlog.ParseEntry(string(bytes.TrimSpace(line)))
		switch {
		case err != nil || e.IsRouter() || e.Process == "api":
			return report.RouterLogFile
		default:
			return path.Join(report.DynoLogsDir, e.Process+".log")
		}
	})
	r.heroku, err = heroku.New(heroku.Options{
		Addr:              netip.AddrPortFrom(herokuAddr, uint16(r.port)).String(),
		Seed:              r.p.scn.Seed,
		Size:              size,
		MemoryQuota:       int64(h.MemoryQuotaMB) << 20,
		TimeScale:         1 / h.TimeCompression,
		RequestTimerScale: h.RequestTimerScale,
		LegacyRouter:      h.Router == "legacy",
		Log:               io.MultiWriter(r.herokuLogs, &r.routerCodes),
		Runner:            herokuRunner,
	})
	if err != nil {
		return fmt.Errorf("start heroku router: %w", err)
	}
	// Close the app before its log files, so its last lines are in them.
	r.onClose(r.herokuLogs.Close)
	r.onClose(r.heroku.Close)

	r.targetLogs = newLogFiles(r.folder, func(line []byte) string {
		return path.Join(report.TargetLogsDir, replicaOf(line)+".log")
	})
	if r.target, err = r.newTarget(ctx, r.targetLogs, targetRunner); err != nil {
		return err
	}
	r.onClose(r.targetLogs.Close)
	r.onClose(r.target.Close)

	hspec, err := r.serviceSpec(ctx, platform.Heroku)
	if err != nil {
		return err
	}
	tspec, err := r.serviceSpec(ctx, platform.Target)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := r.heroku.Deploy(gctx, hspec, h.Dynos); err != nil {
			return fmt.Errorf("deploy on heroku: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := r.target.Deploy(gctx, tspec, r.p.scn.AWS.Replicas); err != nil {
			return fmt.Errorf("deploy on %s: %w", r.target.Name(), err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	r.followReplicas()
	r.event("deployed: heroku %d dynos on %s, %s %d replicas on %s", h.Dynos, r.heroku.Endpoint(), r.target.Name(), r.p.scn.AWS.Replicas, r.target.Endpoint())
	return nil
}

// replicaOf reads the replica name from a target log line
// ("<time> pod/NAME: message"), or "target".
func replicaOf(line []byte) string {
	fields := strings.Fields(string(line))
	for _, f := range fields {
		if name, ok := strings.CutPrefix(f, "pod/"); ok {
			return strings.TrimSuffix(name, ":")
		}
	}
	return "target"
}

// seedData creates the vouchers the trace redeems, with the run's identity
// prefix, through the target's endpoint (both platforms share the
// databases) with the bulk import.
func (r *rehearsal) seedData(ctx context.Context, seed []api.Voucher) error {
	id := replay.Identity{Run: r.prefix}
	body := make([]api.Voucher, len(seed))
	for i, v := range seed {
		body[i] = id.SeedVoucher(v)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	c := client.New("http://"+r.target.Endpoint(), appID, appToken)
	res, err := c.Import(ctx, api.ContentTypeJSON, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("seed %d vouchers: %w", len(seed), err)
	}
	if res.Failed > 0 {
		return fmt.Errorf("seed vouchers: %d of %d failed: %s", res.Failed, len(seed), strings.Join(res.Errors, "; "))
	}
	r.event("seeded %s vouchers", strconv.Itoa(int(res.Created)))
	return nil
}

// seedCodes are the voucher codes the seed data created (with the run's
// prefix).
func (r *rehearsal) seedCodes(seed []api.Voucher) []string {
	id := replay.Identity{Run: r.prefix}
	codes := make([]string, 0, min(len(seed), 256))
	for _, v := range seed[:min(len(seed), 256)] {
		codes = append(codes, id.Voucher(v.Code))
	}
	return codes
}
