package main

import (
	"flag"
	"fmt"
	"io"
	"runtime/debug"
)

// versionCmd prints what the binary was built from.
func versionCmd(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "asyncsignd version: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	info, ok := debug.ReadBuildInfo()
	fmt.Fprint(stdout, versionText(info, ok))
	return nil
}

// versionText says the module's version and the VCS revision of a build:
// "(devel)" for a module built from a checkout rather than fetched at a
// version, "unknown" for what the build did not record (no VCS, or
// -buildvcs=false).
func versionText(info *debug.BuildInfo, ok bool) string {
	path, version, goVersion := "github.com/seed-e1024768/async", "(devel)", "unknown"
	rev, when, modified := "unknown", "", false
	if ok && info != nil {
		if info.Main.Path != "" {
			path = info.Main.Path
		}
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		goVersion = info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if when != "" {
		rev += " " + when
	}
	if modified {
		rev += " (modified)"
	}
	return fmt.Sprintf("asyncsignd %s %s\nrevision %s\ngo %s\n", path, version, rev, goVersion)
}
