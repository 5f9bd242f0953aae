package async

// IsCapable is ASYNC_is_capable. Jobs run on Go's own coroutines, which
// every platform Go supports has, so it always reports true.
func IsCapable() bool { return true }

// StackAllocFunc is ASYNC_stack_alloc_fn: in C, it allocates a job's stack
// of *size bytes and may change *size.
type StackAllocFunc func(size *int) []byte

// StackFreeFunc is ASYNC_stack_free_fn: in C, it frees a stack from the
// StackAllocFunc.
type StackFreeFunc func(stack []byte)

// SetMemFunctions is ASYNC_set_mem_functions. OpenSSL lets the
// application supply the memory for each job's fixed stack (32 KiB by
// default). Here a job runs on a goroutine, whose stack the Go runtime
// allocates, grows as needed and frees; no program can supply it. So
// custom stack allocation is not supported: SetMemFunctions changes
// nothing and reports false, as OpenSSL does on platforms without the
// feature.
func SetMemFunctions(alloc StackAllocFunc, free StackFreeFunc) bool { return false }

// GetMemFunctions is ASYNC_get_mem_functions. No stack allocator functions
// are ever in use (see SetMemFunctions), so it returns nil, nil.
func GetMemFunctions() (StackAllocFunc, StackFreeFunc) { return nil, nil }
