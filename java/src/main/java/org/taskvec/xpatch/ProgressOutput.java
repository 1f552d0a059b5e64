package org.taskvec.xpatch;

import java.io.PrintStream;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Where the progress of a run goes and how often: on a terminal one line rewritten in place (at most five times a
 * second); anywhere else (a file, a pipe, a logger) plain lines without control characters, one per tenth of the
 * work or per 30 seconds, whichever comes first.
 */
public final class ProgressOutput {
    final Consumer<String> sink;
    final boolean terminal;
    private final Runnable finish;

    private ProgressOutput(Consumer<String> sink, boolean terminal, Runnable finish) {
        this.sink = Objects.requireNonNull(sink, "sink");
        this.terminal = terminal;
        this.finish = finish;
    }

    /** Plain lines (each a whole line, no '\r'), at a modest rate. */
    public static ProgressOutput lines(Consumer<String> sink) {
        return new ProgressOutput(sink, false, () -> { });
    }

    /** A status the sink shows in place of the previous one, up to five times a second. */
    public static ProgressOutput inPlace(Consumer<String> sink, Runnable finish) {
        return new ProgressOutput(sink, true, finish);
    }

    /** Nowhere. */
    public static ProgressOutput none() {
        return lines(s -> { });
    }

    /**
     * A stream, each line after prefix: rewritten in place with "\r" when terminal, else plain lines. For stderr,
     * terminal is {@code System.console() != null}.
     */
    public static ProgressOutput stream(PrintStream out, String prefix, boolean terminal) {
        return terminal ? inPlace(s -> out.print("\r\033[K" + prefix + s), out::println)
                : lines(s -> out.println(prefix + s));
    }

    /** Whether lines replace each other in place. */
    public boolean terminal() {
        return terminal;
    }

    /** Ends the in-place line (a newline on a terminal). */
    void finish() {
        finish.run();
    }
}
