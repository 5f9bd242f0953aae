// Package leaktest holds the checks this module's tests use to show that
// nothing outlives a test: no goroutine (through go.uber.org/goleak) and
// no file descriptor. Counting file descriptors needs Linux's
// /proc/self/fd: elsewhere the fd checks do nothing and CountFDs and
// OpenFDs do not exist, so only Linux-only tests call those.
package leaktest
