package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newDemoCmd is replaced by the real command as it lands.
func newDemoCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:    "demo",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("demo: not built yet")
		},
	}
}
