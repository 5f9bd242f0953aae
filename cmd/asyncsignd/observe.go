package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
)

// serve's metrics and log:
//
// -metrics ADDR serves the signer's Prometheus metrics (see "Metrics and
// logs" in package signer's doc), with the Go runtime's and the
// process's, at http://ADDR/metrics, and prints "metrics on HOST:PORT"
// right after the "listening on" line (so that -metrics 127.0.0.1:0 can
// be used). It is plain HTTP without authentication: give it a loopback
// or private address. At most metricsConns connections are served at
// once, with timeouts; it stops with the signer.
//
// -log-format text|json (default text) and -log-level
// debug|info|warn|error (default info) set the log on standard error:
// connections opened and closed, reloads, refused clients
// (rate-limited). Any other value is a usage error.

// observeFlags are serve's flags for its metrics and its log.
type observeFlags struct {
	metrics   string
	logFormat string
	logLevel  slog.Level
	reg       *prometheus.Registry // with -metrics, once setup ran
}

// addObserveFlags defines serve's -metrics, -log-format and -log-level
// on fs.
func addObserveFlags(fs *flag.FlagSet) *observeFlags {
	o := &observeFlags{logFormat: "text"}
	fs.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics at http://`address`/metrics, e.g. 127.0.0.1:9100")
	fs.Func("log-format", "log `format` on standard error: text or json (default text)", func(v string) error {
		if v != "text" && v != "json" {
			return errors.New("want text or json")
		}
		o.logFormat = v
		return nil
	})
	fs.Func("log-level", "log lines of this `level` and above: debug, info, warn or error (default info)", func(v string) error {
		switch v {
		case "debug", "info", "warn", "error":
			return o.logLevel.UnmarshalText([]byte(v))
		}
		return errors.New("want debug, info, warn or error")
	})
	return o
}

// setup returns the log the flags ask for, on w, and where the signer
// is to register its metrics: nil without -metrics (a nil interface, so
// that the signer keeps none), else a registry with the Go runtime's and
// the process's metrics beside them.
func (o *observeFlags) setup(w io.Writer) (*slog.Logger, prometheus.Registerer) {
	opts := &slog.HandlerOptions{Level: o.logLevel}
	log := slog.New(slog.NewTextHandler(w, opts))
	if o.logFormat == "json" {
		log = slog.New(slog.NewJSONHandler(w, opts))
	}
	if o.metrics == "" {
		return log, nil
	}
	o.reg = prometheus.NewRegistry()
	o.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return log, o.reg
}

// listen opens the metrics endpoint's listener, nil without -metrics:
// before the signer's "listening on" line, so that a bad -metrics fails
// the start.
func (o *observeFlags) listen() (net.Listener, error) {
	if o.metrics == "" {
		return nil, nil
	}
	lis, err := net.Listen("tcp", o.metrics)
	if err != nil {
		return nil, fmt.Errorf("-metrics: %w", err)
	}
	return lis, nil
}

// The metrics endpoint's bounds: it is meant for a scraper on a trusted
// network, but must not let a stray client hold the signer's memory.
const (
	metricsConns   = 16
	metricsTimeout = 10 * time.Second
)

// serveMetrics serves the metrics at http://HOST:PORT/metrics on lis
// (listen's), says "metrics on HOST:PORT" on stdout, and returns the
// function that stops serving them and waits for the server's goroutine.
// Without -metrics it does nothing.
func (o *observeFlags) serveMetrics(lis net.Listener, stdout io.Writer, log *slog.Logger) (stop func()) {
	if lis == nil {
		return func() {}
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{
		MaxRequestsInFlight: 4,
		Timeout:             metricsTimeout,
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelError),
	}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: metricsTimeout,
		ReadTimeout:       metricsTimeout,
		WriteTimeout:      2 * metricsTimeout,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(netutil.LimitListener(lis, metricsConns))
	}()
	fmt.Fprintf(stdout, "metrics on %s\n", lis.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-done
	}
}
