package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newPeersCmd is replaced by the real command as it lands.
func newPeersCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:    "peers",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("peers: not built yet")
		},
	}
}
