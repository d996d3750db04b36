//go:build !unix

package progress

import "os"

// terminalWidth is unknown here; the display uses its default.
func terminalWidth(*os.File) int { return 0 }
