module github.com/seed-e1024768/async

go 1.26.0

require golang.org/x/sys v0.49.0
