package org.taskvec.engine;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Use-after-close protection for a native handle: callers {@link #enter(Access)} before touching the handle and
 * {@link #exit()} after; {@link #close()} marks the handle closed and has the handle freed (the free action given
 * at construction runs exactly once) when no call is in flight.
 *
 * <p>An exclusive guard (a session) admits one thread at a time and rejects a second thread instead of letting two
 * threads into a single-threaded native object. It remembers the thread inside, so that a call from that same
 * thread (a token listener calling back into its session) is told apart from a second thread: a {@link
 * Access#READ read} is let in while the owner is inside a listener callback ({@link #beginCallback()}), anything
 * else gets a {@link ReentrantSessionUseException}.
 *
 * <p>Closing never spins. {@code close()} on another thread blocks (a monitor wait, woken by the last {@code
 * exit()}) until the calls in flight have returned, then frees; later or concurrent closes wait until the handle
 * is freed. {@code close()} from the thread that is inside (a listener closing its own session) cannot wait for
 * itself: it marks the handle closed and returns, and the owner's outermost {@code exit()} frees it.
 */
final class HandleGuard {
    /** What a call does to the native object. */
    enum Access {
        /** Reads only (no native state changes): allowed from a token listener of the call in flight. */
        READ,
        /** Changes native state or runs native code that must not overlap a call in flight. */
        WRITE
    }

    private static final int CLOSED = 1 << 30;
    /** CLOSED bit and the number of calls in flight (exclusive: 0 or 1; re-entrant reads are counted in depth). */
    private final AtomicInteger state = new AtomicInteger();
    private final boolean exclusive;
    private final String what;
    private final Runnable free;
    /** Monitor for the waits of close() and the wake-ups of exit(); guards freeing and freed. */
    private final Object lock = new Object();
    private boolean freeing;
    private boolean freed;
    /** Exclusive: the thread inside, set after it got in and cleared before it leaves. */
    private volatile Thread owner;
    // Owner-only fields: read and written only by the thread inside, so they need no synchronisation.
    private int depth; // re-entrant reads nested in the outermost call
    private int callbacks; // listener callbacks open in the outermost call
    private boolean freeOnExit; // close() was called by the owner: its outermost exit() frees

    HandleGuard(String what, boolean exclusive, Runnable free) {
        this.what = what;
        this.exclusive = exclusive;
        this.free = free;
    }

    void enter() {
        enter(Access.WRITE);
    }

    void enter(Access access) {
        if (exclusive && owner == Thread.currentThread()) {
            enterAgain(access);
            return;
        }
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
                if (exclusive) {
                    owner = Thread.currentThread();
                }
                return;
            }
        }
    }

    /** A call from the thread already inside. */
    private void enterAgain(Access access) {
        if ((state.get() & CLOSED) != 0) {
            throw new ClosedHandleException(what + " is closed");
        }
        if (callbacks == 0) {
            throw new ReentrantSessionUseException("re-entrant call into the " + what + " on the same thread "
                    + "while a native call of it is in progress; only a token listener may call back, to read");
        }
        if (access != Access.READ) {
            throw new ReentrantSessionUseException("re-entrant call into the " + what + " from a token listener on "
                    + "the same thread: the generation in progress owns it; a listener may read it (logits, "
                    + "positions, tokens, layout, hookRows) or close it, but not change it");
        }
        depth++;
    }

    void exit() {
        if (exclusive) {
            if (depth > 0) {
                depth--;
                return;
            }
            owner = null;
        }
        int s = state.decrementAndGet();
        if (s == CLOSED) { // the last call out of a closed handle
            if (exclusive && freeOnExit) {
                freeOnExit = false;
                release();
            } else {
                synchronized (lock) {
                    lock.notifyAll();
                }
            }
        }
    }

    /** The thread inside enters a listener callback; reads are let in until {@link #endCallback()}. */
    void beginCallback() {
        callbacks++;
    }

    void endCallback() {
        callbacks--;
    }

    boolean isClosed() {
        return (state.get() & CLOSED) != 0;
    }

    /**
     * Marks closed (new calls throw {@link ClosedHandleException}) and has the handle freed once no call is in
     * flight: now, after waiting (without spinning) for calls on other threads, or, when called from inside a call
     * on this thread, when that call returns. Idempotent; a close on another thread while one is freeing waits
     * until the handle is freed. Interrupts do not cut the wait short (the interrupt status is kept).
     */
    void close() {
        boolean first;
        while (true) {
            int s = state.get();
            if ((s & CLOSED) != 0) {
                first = false;
                break;
            }
            if (state.compareAndSet(s, s | CLOSED)) {
                first = true;
                break;
            }
        }
        if (exclusive && owner == Thread.currentThread()) {
            // Closing from inside a call on this thread (a token listener): waiting would wait for itself.
            if (first) {
                freeOnExit = true;
            }
            return;
        }
        if (first) {
            awaitNoCalls();
            release();
        } else {
            awaitFreed();
        }
    }

    private void awaitNoCalls() {
        awaitUninterruptibly(() -> (state.get() & ~CLOSED) == 0);
    }

    private void awaitFreed() {
        awaitUninterruptibly(() -> freed);
    }

    /** Waits on the lock until done holds (checked under the lock); an interrupt is kept, not obeyed. */
    private void awaitUninterruptibly(java.util.function.BooleanSupplier done) {
        boolean interrupted = false;
        synchronized (lock) {
            while (!done.getAsBoolean()) {
                try {
                    lock.wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Runs the free action, once; wakes the closes waiting for it. */
    private void release() {
        synchronized (lock) {
            if (freeing) {
                return;
            }
            freeing = true;
        }
        try {
            free.run();
        } finally {
            synchronized (lock) {
                freed = true;
                lock.notifyAll();
            }
        }
    }
}
