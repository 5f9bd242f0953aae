package async

// hookPoint names a place where tests can run code; see hook.
type hookPoint int

const (
	// hookBeforePaused: the owner of a job is about to move it to Paused
	// (StartJob after the Func paused, or a refused resume handing the
	// job back). Close running here finds the job Live and skips it.
	hookBeforePaused hookPoint = iota
	numHookPoints
)
