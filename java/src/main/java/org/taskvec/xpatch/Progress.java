package org.taskvec.xpatch;

import java.util.function.Consumer;

/** Counts units of work against a known total and reports "done/total (pct) ETA m:ss — what" lines. */
final class Progress {
    private final long total;
    private final Consumer<String> sink;
    private final long start = System.nanoTime();
    private long done;
    private long lastReport;

    Progress(long total, Consumer<String> sink) {
        this.total = Math.max(1, total);
        this.sink = sink;
    }

    void step(String what) {
        done++;
        long now = System.nanoTime();
        if (now - lastReport < 200_000_000L && done < total) {
            return; // at most five lines a second
        }
        lastReport = now;
        double elapsed = (now - start) / 1e9;
        double eta = done == 0 ? 0 : elapsed / done * (total - done);
        sink.accept(String.format("%d/%d (%d%%) elapsed %s ETA %s - %s", done, total, 100 * done / total,
                clock(elapsed), clock(eta), what));
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format("%d:%02d", s / 60, s % 60);
    }
}
