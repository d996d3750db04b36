package docker

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/moby/moby/client"

	"github.com/cutover/cutover/internal/dockerengine"
)

// Names of the image settings, as used by flags (--image postgres=REF),
// scenarios and environment variables (CUTOVER_IMAGE_POSTGRES).
const (
	ImagePostgres   = "postgres"
	ImageRedis      = "redis"
	ImageMongo      = "mongo"
	ImageLocalStack = "localstack"
	ImageToxiproxy  = "toxiproxy"
	ImageService    = "service"
)

// ImageNames lists every image setting, in a stable order.
var ImageNames = []string{ImagePostgres, ImageRedis, ImageMongo, ImageLocalStack, ImageToxiproxy, ImageService}

// Images are the container images of a docker stack. Every field is a
// setting: DefaultImages gives the upstream images, and a scenario, the
// environment and flags override them one by one (Apply), so an offline
// mirror or local builds can be used.
type Images struct {
	Postgres   string `json:"postgres"`
	Redis      string `json:"redis"`
	Mongo      string `json:"mongo"`
	LocalStack string `json:"localstack"`
	Toxiproxy  string `json:"toxiproxy"`
	// Service is the image of the service under test (dynos and replicas).
	Service string `json:"service"`
}

// DefaultImages are the upstream images. The service has no upstream: its
// default is the local build of cmd/couponapi.
func DefaultImages() Images {
	return Images{
		Postgres:   "postgres:15",
		Redis:      "redis:7",
		Mongo:      "mongo:7",
		LocalStack: "localstack/localstack:4.0",
		// Shopify publishes Toxiproxy 2.x in GitHub's container registry;
		// this repository names no registry host, so point
		// CUTOVER_IMAGE_TOXIPROXY at that full name to use it.
		Toxiproxy: "shopify/toxiproxy:2.12.0",
		Service:   LocalImages().Service,
	}
}

// LocalImages are the names `make images` (images/build.sh) gives its
// builds. They are never upstream names, so building them never shadows a
// real upstream image on a developer's machine. Mongo is FerretDB
// (cmd/mongowire) and LocalStack is the Route53 emulator (cmd/route53emu),
// tagged like a LocalStack version because testcontainers' localstack module
// rejects other tags.
func LocalImages() Images {
	return Images{
		Postgres:   "cutover-local/postgres:latest",
		Redis:      "cutover-local/redis:latest",
		Mongo:      "cutover-local/mongo:latest",
		LocalStack: "cutover-local/localstack:4.0-route53emu",
		Toxiproxy:  "cutover-local/toxiproxy:2.12.0",
		Service:    "cutover-local/couponapi:latest",
	}
}

// Get returns the setting called name ("" for an unknown name).
func (im Images) Get(name string) string {
	if p := im.field(name); p != nil {
		return *p
	}
	return ""
}

func (im *Images) field(name string) *string {
	switch name {
	case ImagePostgres:
		return &im.Postgres
	case ImageRedis:
		return &im.Redis
	case ImageMongo:
		return &im.Mongo
	case ImageLocalStack:
		return &im.LocalStack
	case ImageToxiproxy:
		return &im.Toxiproxy
	case ImageService:
		return &im.Service
	}
	return nil
}

// Apply returns im with each named setting of overrides replaced. An
// unknown name or an empty reference is an error naming it.
func (im Images) Apply(overrides map[string]string) (Images, error) {
	names := make([]string, 0, len(overrides))
	for n := range overrides {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := im.field(n)
		if p == nil {
			return im, fmt.Errorf("unknown image %q (known: %s)", n, strings.Join(ImageNames, ", "))
		}
		ref := strings.TrimSpace(overrides[n])
		if ref == "" {
			return im, fmt.Errorf("image %q: empty reference", n)
		}
		*p = ref
	}
	return im, nil
}

// EnvVar is the environment variable that overrides the image setting
// name, e.g. CUTOVER_IMAGE_POSTGRES.
func EnvVar(name string) string { return "CUTOVER_IMAGE_" + strings.ToUpper(name) }

// EnvImages returns the image overrides set in the environment (lookup is
// os.LookupEnv in the CLI).
func EnvImages(lookup func(string) (string, bool)) map[string]string {
	out := map[string]string{}
	for _, n := range ImageNames {
		if v, ok := lookup(EnvVar(n)); ok && strings.TrimSpace(v) != "" {
			out[n] = v
		}
	}
	return out
}

// ParseImageFlags parses repeated --image NAME=REF flag values.
func ParseImageFlags(values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		name, ref, ok := strings.Cut(v, "=")
		if !ok || strings.TrimSpace(name) == "" || strings.TrimSpace(ref) == "" {
			return nil, fmt.Errorf("--image %q: want NAME=REF with NAME one of %s", v, strings.Join(ImageNames, ", "))
		}
		name = strings.TrimSpace(name)
		if (&Images{}).field(name) == nil {
			return nil, fmt.Errorf("--image %q: unknown image %q (known: %s)", v, name, strings.Join(ImageNames, ", "))
		}
		out[name] = strings.TrimSpace(ref)
	}
	return out, nil
}

// ResolveImages merges the settings in order of precedence — defaults, then
// the scenario, then the environment, then flags: the scenario is portable,
// the environment and flags describe this machine (an offline mirror, local
// builds).
func ResolveImages(scenario, env, flags map[string]string) (Images, error) {
	im := DefaultImages()
	for _, layer := range []struct {
		what string
		m    map[string]string
	}{{"scenario", scenario}, {"environment", env}, {"flags", flags}} {
		var err error
		if im, err = im.Apply(layer.m); err != nil {
			return Images{}, fmt.Errorf("images from %s: %w", layer.what, err)
		}
	}
	return im, nil
}

// resolvedImage is an image setting checked against the engine.
type resolvedImage struct {
	Ref     string
	Labels  map[string]string
	Volumes map[string]struct{}
	// Present is false when the image must be pulled.
	Present bool
	// Local is true when Ref is a build of `make images`.
	Local bool
}

// resolveImage decides which image to run for setting name: ref itself when
// the engine has it (never pulled then); else, when ref is the upstream
// default and the local build of `make images` is present, that build (and
// logf says so loudly); else ref, which testcontainers will try to pull.
func resolveImage(ctx context.Context, cli *client.Client, name, ref string, logf func(string, ...any)) (resolvedImage, error) {
	img, ok, err := dockerengine.LocalImage(ctx, cli, ref)
	if err != nil {
		return resolvedImage{}, err
	}
	if ok {
		r := resolvedImage{Ref: ref, Labels: img.Labels, Volumes: img.Volumes, Present: true, Local: img.Labels[dockerengine.LabelImage] != ""}
		if r.Local {
			logf("docker stack: %s image %s is a LOCAL BUILD of `make images` (%s), not the upstream image", name, ref, img.Labels[dockerengine.LabelImage])
		}
		return r, nil
	}
	local := LocalImages().Get(name)
	if ref == DefaultImages().Get(name) && local != ref {
		limg, ok, err := dockerengine.LocalImage(ctx, cli, local)
		if err != nil {
			return resolvedImage{}, err
		}
		if ok {
			logf("docker stack: %s: upstream image %s is not present; USING THE LOCAL BUILD %s of `make images` (%s) instead", name, ref, local, limg.Labels[dockerengine.LabelImage])
			return resolvedImage{Ref: local, Labels: limg.Labels, Volumes: limg.Volumes, Present: true, Local: true}, nil
		}
	}
	logf("docker stack: %s image %s is not present locally; it will be pulled (offline, run `make images` or set %s)", name, ref, EnvVar(name))
	return resolvedImage{Ref: ref}, nil
}
