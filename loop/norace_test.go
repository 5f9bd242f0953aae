//go:build !race

package loop

// raceBuild: see race_test.go.
const raceBuild = false
