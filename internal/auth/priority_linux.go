package auth

import (
	"runtime"
	"syscall"
)

// hashNice is the scheduling priority ("nice") of the threads that hash
// passwords: under contention for the CPUs the kernel gives a thread of
// nice 10 about a tenth of what a thread of nice 0 gets, and all it wants
// when the CPUs are free.
const hashNice = 10

// runLowPriority runs fn on an OS thread of its own whose priority is
// lowered to hashNice, and waits for it. On Linux the priority of one
// thread can be lowered alone (setpriority on its thread id); raising it
// again would need a privilege, so the thread is never given back: the
// goroutine ends locked to it, and the Go runtime ends the thread with it.
func runLowPriority(fn func()) {
	done := make(chan any, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		defer func() { done <- recover() }()
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), hashNice)
		fn()
	}()
	if p := <-done; p != nil {
		panic(p)
	}
}
