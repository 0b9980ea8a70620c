package deadline

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEndsAtDeadline(t *testing.T) {
	ctx := After(30 * time.Millisecond)
	defer ctx.Release()
	if at, ok := ctx.Deadline(); !ok || time.Until(at) > 30*time.Millisecond {
		t.Fatalf("Deadline = %v, %v", at, ok)
	}
	if err := ctx.Err(); err != nil {
		t.Fatalf("Err before the deadline = %v", err)
	}
	if !Only(ctx) || Only(context.Background()) {
		t.Error("Only does not tell a deadline context apart")
	}
	<-ctx.Done()
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Err after the deadline = %v", err)
	}
}

func TestDerivedContextsFollowIt(t *testing.T) {
	ctx := After(20 * time.Millisecond)
	defer ctx.Release()
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	select {
	case <-child.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the child did not end with its parent")
	}
	if !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Errorf("child Err = %v", child.Err())
	}
}

func TestReleaseEndsWaiters(t *testing.T) {
	ctx := After(time.Hour)
	done := ctx.Done()
	ctx.Release()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Release did not end a waiter")
	}
	late := After(time.Hour)
	late.Release()
	select {
	case <-late.Done():
	default:
		t.Error("Done after Release is not closed")
	}
}

func TestNoAllocationWithoutWaiters(t *testing.T) {
	at := time.Now().Add(time.Hour)
	allocs := testing.AllocsPerRun(100, func() {
		ctx := New(at)
		if _, ok := ctx.Deadline(); !ok || ctx.Err() != nil {
			t.Fatal("bad context")
		}
		ctx.Release()
	})
	if allocs > 1 {
		t.Errorf("%v allocations for a context nobody waits on, want 1", allocs)
	}
}
