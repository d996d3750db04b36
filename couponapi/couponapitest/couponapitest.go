// Package couponapitest runs couponapi for tests against a real stack: in
// process (Start), or as the real static binary (Binary, StartProcess) the
// way the platforms run it; and reads the audit log (AuditEvents).
package couponapitest

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/applog"
	"github.com/cutover/cutover/couponapi/client"
	"github.com/cutover/cutover/couponapi/config"
	"github.com/cutover/cutover/couponapi/service"
	"github.com/cutover/cutover/internal/gobuild"
	"github.com/cutover/cutover/internal/proc"
)

// The credentials every test instance accepts.
const (
	AppID    = "cutover-test"
	AppToken = "cutover-test-token"
)

// Binary builds the reference service (CGO_ENABLED=0) by import path, in
// the module of the working directory — this repository, or a module that
// requires cutover — and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := gobuild.Binary(context.Background(), api.ServicePackage, "")
	if err != nil {
		t.Fatalf("build couponapi: %v", err)
	}
	return bin
}

// Stack is where an instance keeps its data: the direct URLs of Postgres,
// Redis and Mongo. The Endpoints of a harness stack satisfies it, so this
// package needs nothing of the harness.
type Stack interface {
	DataURLs() (postgres, redis, mongo string)
}

// Env is the environment of a couponapi using the stack endpoints ep (the
// direct URLs) with the test credentials, a short outbox poll, and extra
// on top (extra values "" remove a variable). PORT is not set.
func Env(ep Stack, extra map[string]string) map[string]string {
	pg, redis, mongo := ep.DataURLs()
	env := map[string]string{
		"DATABASE_URL": pg,
		"REDIS_URL":    redis,
		"MONGODB_URL":  mongo,
		"APP_ID":       AppID,
		"APP_TOKEN":    AppToken,
		"OUTBOX_POLL":  "100ms",
	}
	for k, v := range extra {
		if v == "" {
			delete(env, k)
			continue
		}
		env[k] = v
	}
	return env
}

// Instance is an in-process couponapi.
type Instance struct {
	Service *service.Service
	URL     string
	Client  *client.Client
	Log     *SyncBuffer
}

// Start runs couponapi in process on 127.0.0.1 with Env(ep, extra) and
// returns once it is ready. It shuts down at cleanup and prints its log if
// the test failed.
func Start(t testing.TB, ep Stack, extra map[string]string) *Instance {
	t.Helper()
	env := Env(ep, extra)
	env["HOST"], env["PORT"] = "127.0.0.1", "0"
	cfg, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("couponapi config: %v", err)
	}
	logBuf := &SyncBuffer{}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	svc, err := service.Start(sctx, cfg, applog.Logger(logBuf, cfg.LogLevel))
	cancel()
	if err != nil {
		t.Fatalf("start couponapi: %v", err)
	}
	inst := &Instance{Service: svc, URL: "http://" + svc.Addr(), Log: logBuf}
	inst.Client = client.New(inst.URL, AppID, AppToken)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := svc.Shutdown(ctx); err != nil {
			t.Errorf("shut down couponapi: %v", err)
		}
		if t.Failed() {
			t.Logf("couponapi log (last 60 lines):\n%s", logBuf.Tail(60))
		}
	})
	waitReady(t, inst.Client, nil)
	return inst
}

// Process is couponapi run as a child process of the test.
type Process struct {
	proc.Instance
	URL    string
	Client *client.Client
	Log    *SyncBuffer
}

// StartProcess runs the binary bin on a free port of 127.0.0.1 with
// Env(ep, extra) (and nothing else from the test's environment) and returns
// once /readyz answers 200. It is killed at cleanup if still running.
func StartProcess(t testing.TB, bin string, ep Stack, extra map[string]string) *Process {
	t.Helper()
	port, release, err := proc.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	release() // the process binds it next; until here no one else could take it
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	env := Env(ep, extra)
	env["HOST"] = "127.0.0.1"
	logBuf := &SyncBuffer{}
	inst, err := proc.Local{}.Start(context.Background(),
		proc.Spec{Name: "couponapi", Command: []string{bin}, Env: env},
		proc.InstanceConfig{Name: "couponapi", Addr: addr, Output: func(_, line string) {
			logBuf.WriteLine(line)
		}})
	if err != nil {
		t.Fatalf("start couponapi process: %v", err)
	}
	p := &Process{Instance: inst, URL: "http://" + addr, Log: logBuf}
	p.Client = client.New(p.URL, AppID, AppToken)
	t.Cleanup(func() {
		_ = inst.Kill()
		<-inst.Done()
		if t.Failed() {
			t.Logf("couponapi process log (last 60 lines):\n%s", logBuf.Tail(60))
		}
	})
	waitReady(t, p.Client, inst.Done())
	return p
}

func waitReady(t testing.TB, c *client.Client, exited <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last error
	for {
		_, err := c.Ready(ctx)
		if err == nil {
			return
		}
		last = err
		select {
		case <-exited:
			t.Fatalf("couponapi exited before it was ready: %v", last)
		case <-ctx.Done():
			t.Fatalf("couponapi not ready after 30s: %v", last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// AuditEvents reads the audit-log events matching filter (nil for all).
func AuditEvents(t testing.TB, mongoURL string, filter bson.D) []api.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(mongoURL))
	if err != nil {
		t.Fatalf("connect mongo: %v", err)
	}
	defer func() { _ = c.Disconnect(context.Background()) }()
	if filter == nil {
		filter = bson.D{}
	}
	cur, err := c.Database(api.MongoDatabase).Collection(api.EventCollection).Find(ctx, filter)
	if err != nil {
		t.Fatalf("read audit log: %v", err)
	}
	var out []api.Event
	if err := cur.All(ctx, &out); err != nil {
		t.Fatalf("read audit log: %v", err)
	}
	return out
}

// WaitFor polls cond every 50ms until it holds or timeout passes, and
// reports whether it held.
func WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SyncBuffer is a log sink safe for concurrent writers.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends b.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// WriteLine appends line and a newline.
func (b *SyncBuffer) WriteLine(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(line)
	b.buf.WriteByte('\n')
}

// String is everything written.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail is the last n lines written.
func (b *SyncBuffer) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Voucher is a helper to build a discount voucher body with a quantity.
func Voucher(code string, quantity int64, amountOff int64) api.Voucher {
	v := api.Voucher{Code: code, Type: api.DiscountVoucher,
		Discount: &api.Discount{Type: api.DiscountAmount, AmountOff: amountOff}}
	if quantity > 0 {
		v.Redemption = &api.VoucherRedemption{Quantity: &quantity}
	}
	return v
}

// GiftCard is a helper to build a gift card body.
func GiftCard(code string, amount int64) api.Voucher {
	return api.Voucher{Code: code, Type: api.GiftVoucher, Gift: &api.Gift{Amount: amount}}
}
