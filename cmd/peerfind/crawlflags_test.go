package main

import "testing"

// TestAutoConcurrency: --concurrency 0 is 64 without a DHT cap, and under
// one as many searches as the cap feeds at 20 queries/s each.
func TestAutoConcurrency(t *testing.T) {
	tests := []struct {
		name    string
		flags   crawlFlags
		want    int
		wantErr bool
	}{
		{"default cap", crawlFlags{dhtRate: 200}, 10, false},
		{"small cap", crawlFlags{dhtRate: 10}, 4, false},
		{"large cap", crawlFlags{dhtRate: 5000}, 64, false},
		{"no cap", crawlFlags{dhtRate: -1}, 64, false},
		{"no DHT", crawlFlags{dhtRate: 200, search: searchOptions{noDHT: true}}, 64, false},
		{"given", crawlFlags{dhtRate: 200, concurrency: 100}, 100, false},
		{"negative", crawlFlags{concurrency: -1}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.flags
			err := checkCrawlFlags(&f)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if err == nil && f.concurrency != tt.want {
				t.Errorf("concurrency %d, want %d", f.concurrency, tt.want)
			}
		})
	}
}
