//go:build !unix

package bencodebench

import "time"

// cpuTime is unavailable here; the CPU metrics are then omitted.
func cpuTime() time.Duration { return 0 }
