// Command palisade is the Palisade binary: the control plane (`palisade serve`)
// and the client subcommands that the aws CLI cannot provide.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "palisade:", err)
		os.Exit(1)
	}
}
