package org.taskvec.engine;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Use-after-close protection for a native handle: callers {@link #enter()} before touching the handle and
 * {@link #exit()} after; {@link #close()} marks the handle closed, waits for calls in flight, and reports whether
 * the caller must free it (true exactly once). An exclusive guard admits one caller at a time and rejects a
 * second thread instead of letting two threads into a single-threaded native object.
 */
final class HandleGuard {
    private static final int CLOSED = 1 << 30;
    private final AtomicInteger state = new AtomicInteger();
    private final boolean exclusive;
    private final String what;

    HandleGuard(String what, boolean exclusive) {
        this.what = what;
        this.exclusive = exclusive;
    }

    void enter() {
        while (true) {
            int s = state.get();
            if ((s & CLOSED) != 0) {
                throw new ClosedHandleException(what + " is closed");
            }
            if (exclusive && s != 0) {
                throw new ConcurrentSessionUseException(
                        what + " is in use by another thread; a session belongs to one thread at a time");
            }
            if (state.compareAndSet(s, s + 1)) {
                return;
            }
        }
    }

    void exit() {
        state.decrementAndGet();
    }

    boolean isClosed() {
        return (state.get() & CLOSED) != 0;
    }

    /** Marks closed and waits for calls in flight; true for the one caller that must free the handle. */
    boolean close() {
        while (true) {
            int s = state.get();
            if ((s & CLOSED) != 0) {
                return false;
            }
            if (state.compareAndSet(s, s | CLOSED)) {
                break;
            }
        }
        while ((state.get() & ~CLOSED) != 0) {
            Thread.onSpinWait();
        }
        return true;
    }
}
