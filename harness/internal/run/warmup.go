package run

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/cutover/cutover/couponapi/api"
)

// warmUp sends a few rounds of cheap reads (GET of seed vouchers) through
// each platform's endpoint before the first stage, so connection pools
// (router to dynos, load balancer to replicas, services to their data
// stores) are open as they are on a live app that has been serving traffic.
// The requests are not part of the history.
func (r *rehearsal) warmUp(ctx context.Context, codes []string) error {
	if len(codes) == 0 {
		return nil
	}
	const rounds, concurrency = 4, 64
	client := &http.Client{Timeout: 10 * time.Second}
	for _, endpoint := range []string{r.heroku.Endpoint(), r.target.Endpoint()} {
		for round := range rounds {
			var wg sync.WaitGroup
			errs := make(chan error, concurrency)
			for i := range concurrency {
				code := codes[(round*concurrency+i)%len(codes)]
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+endpoint+api.PathVouchers+"/"+url.PathEscape(code), nil)
					if err != nil {
						errs <- err
						return
					}
					req.Header.Set(api.HeaderAppID, appID)
					req.Header.Set(api.HeaderAppToken, appToken)
					resp, err := client.Do(req)
					if err != nil {
						errs <- err
						return
					}
					resp.Body.Close()
				}()
			}
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				return fmt.Errorf("warm up %s: %w", endpoint, err)
			}
		}
	}
	return nil
}
