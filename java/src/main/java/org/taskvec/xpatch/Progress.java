package org.taskvec.xpatch;

import java.util.function.LongSupplier;

/**
 * Counts units of work against a known total and reports "done/total (pct) elapsed m:ss ETA m:ss - what" lines
 * through a {@link ProgressOutput}. The line never passes the total: steps past it (a total that undercounts the
 * work, which is a bug) are counted in {@link #overrun()} but shown as 100%.
 */
final class Progress {
    /** On a terminal: at most five lines a second. */
    static final long TERMINAL_INTERVAL_NS = 200_000_000L;
    /** Elsewhere: a line per tenth of the work, or after this long without one. */
    static final long LINE_INTERVAL_NS = 30_000_000_000L;

    private final long total;
    private final ProgressOutput out;
    private final LongSupplier clock;
    private final long start;
    private long done;
    private long overrun;
    private long lastReport;
    private long lastTenth;

    Progress(long total, ProgressOutput out) {
        this(total, out, System::nanoTime);
    }

    Progress(long total, ProgressOutput out, LongSupplier nanoClock) {
        if (total < 0) {
            throw new IllegalArgumentException("total " + total);
        }
        this.total = total;
        this.out = out;
        this.clock = nanoClock;
        this.start = nanoClock.getAsLong();
        this.lastReport = start;
    }

    long total() {
        return total;
    }

    /** Steps counted, at most the total. */
    long done() {
        return done;
    }

    /** Steps beyond the total (0 when the total is right). */
    long overrun() {
        return overrun;
    }

    void step(String what) {
        if (done >= total) {
            overrun++;
            return;
        }
        done++;
        long now = clock.getAsLong();
        boolean last = done == total;
        if (out.terminal) {
            if (now - lastReport < TERMINAL_INTERVAL_NS && !last) {
                return;
            }
        } else {
            long tenth = done * 10 / total;
            if (tenth == lastTenth && now - lastReport < LINE_INTERVAL_NS && !last) {
                return;
            }
            lastTenth = tenth;
        }
        lastReport = now;
        out.sink.accept(line(done, total, (now - start) / 1e9, what));
    }

    /** Ends an in-place line. */
    void finish() {
        out.finish();
    }

    static String line(long done, long total, double elapsed, String what) {
        long shown = Math.min(done, total);
        double eta = shown == 0 ? 0 : Math.max(0, elapsed / shown * (total - shown));
        long pct = total == 0 ? 100 : 100 * shown / total;
        return String.format("%d/%d (%d%%) elapsed %s ETA %s - %s", shown, total, pct, clock(elapsed), clock(eta),
                what);
    }

    static String clock(double seconds) {
        long s = Math.max(0, Math.round(seconds));
        return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format("%d:%02d", s / 60, s % 60);
    }
}
