package signer

// Stats are a Server's counters since it was made. The Stats RPC of the
// wire protocol returns the same figures, for a client to read.
type Stats struct {
	Received   uint64 // requests received, on streams and by SignOne
	Signed     uint64 // signatures made
	Canceled   uint64 // requests dropped before signing because canceled
	Expired    uint64 // requests dropped before signing because past their deadline
	Failed     uint64 // requests answered with any other error code
	BatchesIn  uint64 // request batches received
	BatchesOut uint64 // result batches sent
}

// Stats returns the server's counters. It is safe to call at any time,
// from any goroutine; each counter is read atomically, the set is not a
// snapshot taken at one instant.
func (s *Server) Stats() Stats {
	c := &s.counters
	return Stats{
		Received:   c.received.Load(),
		Signed:     c.signed.Load(),
		Canceled:   c.canceled.Load(),
		Expired:    c.expired.Load(),
		Failed:     c.failed.Load(),
		BatchesIn:  c.batchesIn.Load(),
		BatchesOut: c.batchesOut.Load(),
	}
}
