package org.taskvec.engine;

import static org.taskvec.nativeapi.TaskvecNative.*;

import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.taskvec.nativeapi.TaskvecNative.TvModel;
import org.taskvec.nativeapi.TaskvecNative.TvSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The safety net behind close(): a model or session that becomes unreachable without being closed is freed by a
 * {@link Cleaner}, with a warning. A native model is freed only after its sessions: it counts one reference for its
 * owner and one per live session, and is freed when the last is released, whichever path releases it.
 */
final class NativeReleases {
    private static final Logger LOG = LoggerFactory.getLogger(NativeReleases.class);
    static final Cleaner CLEANER = Cleaner.create();
    /** Handles freed by the safety net rather than by close() (for tests and diagnostics). */
    static final AtomicLong LEAKED = new AtomicLong();

    private NativeReleases() {}

    /** The native model and its reference count. */
    static final class ModelRelease {
        private final TvModel handle;
        private final AtomicInteger refs = new AtomicInteger(1); // the owner
        private final AtomicBoolean ownerReleased = new AtomicBoolean();
        private final String what;

        ModelRelease(TvModel handle, String what) {
            this.handle = handle;
            this.what = what;
        }

        void retain() {
            refs.incrementAndGet();
        }

        void release() {
            if (refs.decrementAndGet() == 0) {
                tv_model_free(handle);
            }
        }

        /** The owner's reference (Model.close or the cleaner; once). */
        void releaseOwner() {
            if (ownerReleased.compareAndSet(false, true)) {
                release();
            }
        }

        /** The cleaning action of an unreachable Model (must not reference the Model). */
        Runnable cleaner() {
            return () -> {
                if (!ownerReleased.get()) {
                    LEAKED.incrementAndGet();
                    LOG.warn("a taskvec Model ({}) was not closed; freeing it now. Close models with "
                            + "try-with-resources.", what);
                    releaseOwner();
                }
            };
        }
    }

    /** The native session; releases its model reference when freed. */
    static final class SessionRelease {
        private final TvSession handle;
        private final ModelRelease model;
        private final AtomicBoolean freed = new AtomicBoolean();
        private final AtomicInteger frees = new AtomicInteger(); // calls of free(), for tests

        SessionRelease(TvSession handle, ModelRelease model) {
            this.handle = handle;
            this.model = model;
            model.retain();
        }

        /** Frees the context once (close or cleaner). */
        void free() {
            frees.incrementAndGet();
            if (freed.compareAndSet(false, true)) {
                tv_session_free(handle);
                model.release();
            }
        }

        /** How many times free() was called (close must call it once; later calls do nothing). */
        int frees() {
            return frees.get();
        }

        Runnable cleaner() {
            return () -> {
                if (!freed.get()) {
                    LEAKED.incrementAndGet();
                    LOG.warn("a taskvec Session was not closed; freeing it now. Close sessions with "
                            + "try-with-resources.");
                    free();
                }
            };
        }
    }
}
