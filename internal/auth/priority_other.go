//go:build !linux

package auth

// runLowPriority runs fn. Elsewhere than on Linux a thread's priority
// cannot be lowered alone (setpriority would lower the whole process's).
func runLowPriority(fn func()) { fn() }
