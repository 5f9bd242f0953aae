//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/seed-e1024768/async/signer"
)

// slowMessages speaks HTTP/2 to the signer at addr as the deployment's
// client: on as many Sign streams as a connection may have, it sends a
// message of signer.MaxRecvMsgSize bytes, all but its last byte, as fast
// as flow control lets it, then holds until ctx ends, reading (and
// dropping) what the signer sends. A gRPC client sends messages whole;
// this one leaves every stream's receiver with a message being read.
func slowMessages(ctx context.Context, t *testing.T, addr string) {
	tc, err := signer.ClientTLS(deploy)
	if err != nil {
		t.Error(err)
		return
	}
	tc = tc.Clone()
	tc.NextProtos = []string{"h2"}
	conn, err := tls.Dial("tcp", addr, tc)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		return
	}
	fr := http2.NewFramer(conn, conn)
	var (
		mu      sync.Mutex // guards writes and the windows
		cond    = sync.NewCond(&mu)
		connWin = int64(65535)
		initWin = int64(65535)
		win     = map[uint32]int64{}
		dead    bool
	)
	mu.Lock()
	err = fr.WriteSettings()
	mu.Unlock()
	if err != nil {
		return
	}
	go func() { // the signer's frames
		defer func() { mu.Lock(); dead = true; cond.Broadcast(); mu.Unlock() }()
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			mu.Lock()
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
						for id := range win {
							win[id] += int64(v) - initWin
						}
						initWin = int64(v)
					}
					fr.WriteSettingsAck()
				}
			case *http2.WindowUpdateFrame:
				if f.StreamID == 0 {
					connWin += int64(f.Increment)
				} else if _, ok := win[f.StreamID]; ok {
					win[f.StreamID] += int64(f.Increment)
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					fr.WritePing(true, f.Data)
				}
			case *http2.RSTStreamFrame:
				delete(win, f.StreamID)
			}
			cond.Broadcast()
			mu.Unlock()
		}
	}()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	body := make([]byte, 5+signer.MaxRecvMsgSize-1) // all but the last byte
	binary.BigEndian.PutUint32(body[1:], signer.MaxRecvMsgSize)
	sent := map[uint32]int{}
	mu.Lock()
	defer mu.Unlock()
	for i := range signer.MaxStreams {
		id := uint32(2*i + 1)
		hb.Reset()
		for _, h := range [][2]string{{":method", "POST"}, {":scheme", "https"}, {":path", "/asyncsign.v1.Signer/Sign"},
			{":authority", "localhost"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
			enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]})
		}
		if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndHeaders: true}) != nil {
			return
		}
		win[id] = initWin
		sent[id] = 0
	}
	// Send what the windows let through, round the streams, until every
	// stream has sent its part of a message or the signer holds back.
	for !dead && ctx.Err() == nil {
		progress := false
		for id, n := range sent {
			w, ok := win[id]
			if !ok || n == len(body) {
				continue
			}
			k := min(int64(len(body)-n), w, connWin, 16<<10)
			if k <= 0 {
				continue
			}
			if fr.WriteData(id, false, body[n:n+int(k)]) != nil {
				return
			}
			sent[id] += int(k)
			win[id] -= k
			connWin -= k
			progress = true
		}
		if !progress {
			cond.Wait()
		}
	}
	total := 0
	for _, n := range sent {
		total += n
	}
	t.Log(fmt.Sprintf("%d KiB sent on a connection", total>>10))
}
