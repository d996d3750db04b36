package dockerengine

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Image is what the engine knows of a local image.
type Image struct {
	Ref    string
	ID     string
	Labels map[string]string
	// Volumes are the paths the image declares as volumes.
	Volumes map[string]struct{}
}

// LocalImage inspects ref in the engine's image store. ok is false when the
// image is not there (it would have to be pulled).
func LocalImage(ctx context.Context, cli *client.Client, ref string) (img Image, ok bool, err error) {
	res, err := cli.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return Image{}, false, nil
	}
	if err != nil {
		return Image{}, false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	img = Image{Ref: ref, ID: res.ID}
	if res.Config != nil {
		img.Labels = res.Config.Labels
		img.Volumes = res.Config.Volumes
	}
	return img, true, nil
}
