// compose-check validates a Compose file against the Compose specification (the
// schema and semantic checks of compose-go, the library behind `docker compose`),
// without a Docker engine. Used by scripts/check-deploy.sh.
//
//	go run ./scripts/compose-check deploy/compose.yaml
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: compose-check FILE")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions([]string{os.Args[1]}, cli.WithName("driftd"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "compose-check:", err)
		os.Exit(1)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "compose-check:", err)
		os.Exit(1)
	}
	fmt.Printf("compose-check: %s is valid (%d services)\n", os.Args[1], len(project.Services))
}
