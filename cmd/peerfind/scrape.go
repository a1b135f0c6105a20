package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newScrapeCmd is replaced by the real command as it lands.
func newScrapeCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:    "scrape",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("scrape: not built yet")
		},
	}
}
