package discovery

import (
	"context"
	"errors"

	"github.com/peerfind/peerfind/tracker"
)

// trackerSource adapts a *tracker.Client to Announcer.
type trackerSource struct {
	c    *tracker.Client
	left int64
}

// NewTrackerSource returns an Announcer that announces through c. left is
// the number of bytes left to download sent to trackers: the torrent's total
// size for a search (a finder has nothing), or negative if unknown (a magnet
// link), which the client turns into a large "leecher" value. The caller
// still owns c and closes it.
func NewTrackerSource(c *tracker.Client, left int64) Announcer {
	return &trackerSource{c: c, left: left}
}

func (s *trackerSource) Announce(ctx context.Context, url string, req AnnounceRequest) (*AnnounceResponse, error) {
	resp, err := s.c.Announce(ctx, url, tracker.AnnounceRequest{
		InfoHash: req.InfoHash,
		Port:     req.Port,
		Left:     s.left,
		Event:    req.Event,
		NumWant:  req.NumWant,
	})
	var fe *tracker.FailureError
	if errors.As(err, &fe) && fe.RetryIn != 0 {
		return nil, &RetryError{Err: err, After: fe.RetryIn}
	}
	if err != nil {
		return nil, err
	}
	return &AnnounceResponse{
		Peers:       resp.Peers,
		Interval:    resp.Interval,
		MinInterval: resp.MinInterval,
		Seeders:     resp.Seeders,
		Leechers:    resp.Leechers,
		Warning:     resp.Warning,
		ExternalIP:  resp.ExternalIP,
	}, nil
}
