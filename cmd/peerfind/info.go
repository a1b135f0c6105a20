package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newInfoCmd is replaced by the real command as it lands.
func newInfoCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:    "info",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("info: not built yet")
		},
	}
}
