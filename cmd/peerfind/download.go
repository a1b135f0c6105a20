package main

// http(s):// TARGETs: users copy links to .torrent files, and aria2c and
// transmission fetch them. The download is bounded like every other TARGET
// source (readCapped), in time (downloadTimeout) and in redirects, and its
// content is checked before it is parsed, so a login page or an error page
// is said to be one.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	// downloadTimeout bounds the whole download, redirects included.
	downloadTimeout = 30 * time.Second
	// maxRedirects is what curl -L users rarely exceed; more is a loop.
	maxRedirects = 10
)

// isURL reports whether arg is an http or https URL.
func isURL(arg string) bool {
	l := strings.ToLower(arg)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// redirectToMagnet is how a download that redirects to a magnet link (as
// some sites' "download" buttons do) leaves the HTTP client.
type redirectToMagnet struct{ link string }

func (e *redirectToMagnet) Error() string { return "redirected to a magnet link" }

// download fetches a .torrent over HTTP(S). It returns the body, or, when
// the server redirects to a magnet link, that link (magnetLink != "").
func download(ctx context.Context, rawURL string) (data []byte, magnetLink string, err error) {
	ctx, cancel := context.WithTimeout(ctx, downloadTimeout)
	defer cancel()
	client := &http.Client{
		Transport: http.DefaultTransport, // honours HTTP(S)_PROXY, as curl does
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.EqualFold(req.URL.Scheme, "magnet") {
				return &redirectToMagnet{req.URL.String()}
			}
			if len(via) >= maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			return nil
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", rawURL, err)
	}
	req.Header.Set("User-Agent", "peerfind")
	req.Header.Set("Accept", "application/x-bittorrent, */*;q=0.5")
	resp, err := client.Do(req)
	if err != nil {
		var rm *redirectToMagnet
		if errors.As(err, &rm) {
			return nil, rm.link, nil
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is named below, once
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no complete answer within %v", downloadTimeout)
		}
		return nil, "", fmt.Errorf("%s: download failed: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("%s: download failed: HTTP %s", rawURL, resp.Status)
	}
	if resp.ContentLength > maxTorrentSize {
		return nil, "", fmt.Errorf("%s: %s, too large for a .torrent file (at most %d MiB)", rawURL, humanBytes(resp.ContentLength), maxTorrentSize>>20)
	}
	data, err = readCapped(resp.Body, maxTorrentSize, max(resp.ContentLength, 0))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("download not complete within %v", downloadTimeout)
		}
		return nil, "", fmt.Errorf("%s: %w", rawURL, err)
	}
	return data, "", nil
}
