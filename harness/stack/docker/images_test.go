package docker_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/stack/docker"
)

func TestResolveImagesPrecedence(t *testing.T) {
	im, err := docker.ResolveImages(
		map[string]string{"postgres": "scenario/pg:1", "redis": "scenario/redis:1"},
		map[string]string{"redis": "env/redis:1", "mongo": "env/mongo:1"},
		map[string]string{"mongo": "flag/mongo:1"},
	)
	require.NoError(t, err)
	def := docker.DefaultImages()
	require.Equal(t, docker.Images{
		Postgres:   "scenario/pg:1",
		Redis:      "env/redis:1",
		Mongo:      "flag/mongo:1",
		LocalStack: def.LocalStack,
		Toxiproxy:  def.Toxiproxy,
		Service:    def.Service,
	}, im)

	_, err = docker.ResolveImages(map[string]string{"postgress": "x"}, nil, nil)
	require.ErrorContains(t, err, `images from scenario: unknown image "postgress"`)
	_, err = docker.ResolveImages(nil, map[string]string{"redis": " "}, nil)
	require.ErrorContains(t, err, `image "redis": empty reference`)
}

func TestEnvImages(t *testing.T) {
	env := map[string]string{
		"CUTOVER_IMAGE_POSTGRES":   "mirror.invalid/postgres:15",
		"CUTOVER_IMAGE_LOCALSTACK": "",
		"CUTOVER_IMAGE_SERVICE":    "me/coupons:2",
		"CUTOVER_IMAGE_OTHER":      "ignored",
	}
	got := docker.EnvImages(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.Equal(t, map[string]string{"postgres": "mirror.invalid/postgres:15", "service": "me/coupons:2"}, got)
}

func TestParseImageFlags(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    map[string]string
		wantErr string
	}{
		{[]string{"postgres=postgres:16", "toxiproxy = local/tp:1"}, map[string]string{"postgres": "postgres:16", "toxiproxy": "local/tp:1"}, ""},
		{[]string{"service=registry.invalid:5000/coupons:3"}, map[string]string{"service": "registry.invalid:5000/coupons:3"}, ""},
		{[]string{"postgres"}, nil, "want NAME=REF"},
		{[]string{"=x"}, nil, "want NAME=REF"},
		{[]string{"mysql=mysql:8"}, nil, `unknown image "mysql"`},
	} {
		t.Run(strings.Join(tc.in, ","), func(t *testing.T) {
			got, err := docker.ParseImageFlags(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func FuzzParseImageFlags(f *testing.F) {
	f.Add("postgres=postgres:15")
	f.Add("=")
	f.Add("service==x")
	f.Fuzz(func(t *testing.T, v string) {
		got, err := docker.ParseImageFlags([]string{v})
		if err != nil {
			return
		}
		im, err := docker.DefaultImages().Apply(got)
		require.NoError(t, err, "a parsed flag applies")
		for name, ref := range got {
			require.Equal(t, ref, im.Get(name))
		}
	})
}

// The local image names are written twice: in images.go and in the build
// script that makes them. They must agree.
func TestBuildScriptMakesTheLocalImages(t *testing.T) {
	script, err := os.ReadFile("../../../images/build.sh")
	require.NoError(t, err)
	local := docker.LocalImages()
	refs := []string{docker.ReaperImage}
	for _, name := range docker.ImageNames {
		refs = append(refs, local.Get(name))
	}
	for _, ref := range refs {
		repo, tag, _ := strings.Cut(strings.TrimPrefix(ref, "cutover-local/"), ":")
		require.Contains(t, string(script), "=$PREFIX/"+repo+":"+tag, "build.sh tags %s", ref)
	}
}
