package main

import (
	"flag"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/data"
)

func cmdList(args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	defer w.Flush()
	// One line per parameter: name=default, the values it may take (its range, or an enum's values),
	// and its help.
	printParams := func(ps []bench.ParamSpec) {
		for _, p := range ps {
			fmt.Fprintf(w, "      %s=%s\t%s\t%s\n", p.Name, p.Default, p.Allowed(), p.Help)
		}
	}
	fmt.Fprintln(w, "methods (set with --set METHOD.KEY=VALUE):")
	for _, e := range bench.Methods.Entries() {
		fmt.Fprintf(w, "  %s\t%s\n", e.Name, e.Description)
		printParams(e.Value.Params)
	}
	fmt.Fprintln(w, "\ndatasets (parameters in the spec: NAME:KEY=VALUE,...):")
	for _, e := range data.Datasets.Entries() {
		fmt.Fprintf(w, "  %s\t%s\n", e.Name, e.Description)
	}
	fmt.Fprintln(w, "\nencoders (set with --set ENCODER.KEY=VALUE):")
	for _, e := range bench.Encoders.Entries() {
		fmt.Fprintf(w, "  %s\t%s\n", e.Name, e.Description)
		printParams(e.Value.Params)
	}
	return nil
}
