package tracker

import (
	"context"
	"fmt"

	"github.com/peerfind/peerfind/metainfo"
)

// scrape dispatches a scrape by URL scheme: BEP 48 for HTTP(S), BEP 15 for
// UDP.
func (c *Client) scrape(ctx context.Context, trackerURL string, hashes []metainfo.Hash) (map[metainfo.Hash]ScrapeStats, error) {
	if len(hashes) == 0 {
		return nil, fmt.Errorf("%w: no info hashes to scrape", ErrBadURL)
	}
	u, err := parseTrackerURL(trackerURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "udp" {
		return c.scrapeUDP(ctx, u, hashes)
	}
	return c.scrapeHTTP(ctx, u, hashes)
}
