package org.taskvec.hooks;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.engine.Model;

/**
 * Which positions of a prompt a hook touches: absolute positions, positions counted from the end ({@code -1} is
 * the last), all of them, the positions of the k-th image, or the n-th occurrence of a token (such as the ":"
 * that the task-vector paper reads at). Resolved against the prompt's layout when the run starts.
 */
public abstract class Positions {
    private Positions() {}

    /** Every position (in the generation phase: every generated position). */
    public static Positions all() {
        return ALL;
    }

    /** The last position of the prompt (in the generation phase: each new position). */
    public static Positions last() {
        return of(-1);
    }

    /** Absolute positions (0 = first), or negative ones counted from the end (-1 = last). */
    public static Positions of(int... positions) {
        Objects.requireNonNull(positions, "positions");
        if (positions.length == 0) {
            throw new InvalidInputException("no positions given");
        }
        return new Explicit(positions.clone());
    }

    /** The positions of the prompt's k-th image (k from 0). */
    public static Positions image(int k) {
        if (k < 0) {
            throw new InvalidInputException("image index must be >= 0, got " + k);
        }
        return new Image(k);
    }

    /**
     * The n-th position (from 0; negative: from the end, -1 = last) whose token text, stripped of whitespace,
     * equals text.
     */
    public static Positions occurrence(String text, int n) {
        Objects.requireNonNull(text, "text");
        return new Occurrence(text.strip(), n, false);
    }

    /**
     * The n-th position (from 0; negative: from the end, -1 = last) whose token ends with delimiter: its text ends
     * with it (a token ":" or "A:", not ":Paris"). With prompts whose delimiters each end a token
     * ({@code org.taskvec.tasks.Delimiters#align}), the n-th delimiter of the text, for every tokenizer.
     */
    public static Positions delimiter(String delimiter, int n) {
        Objects.requireNonNull(delimiter, "delimiter");
        if (delimiter.isEmpty()) {
            throw new InvalidInputException("the delimiter is empty");
        }
        return new Occurrence(delimiter, n, true);
    }

    /**
     * Parses {@code all}, {@code last}, a comma-separated list of positions ({@code 3,5,-1}), {@code image:K},
     * {@code token:TEXT:N} or {@code delimiter:TEXT:N}.
     */
    public static Positions parse(String spec) {
        String s = spec.trim();
        if (s.equals("all")) {
            return all();
        }
        if (s.equals("last")) {
            return last();
        }
        if (s.startsWith("image:")) {
            return image(parseInt(s.substring(6), spec));
        }
        if (s.startsWith("delimiter:")) {
            int colon = s.lastIndexOf(':');
            if (colon <= 10) {
                throw new InvalidInputException("positions '" + spec + "': use delimiter:TEXT:N");
            }
            return delimiter(s.substring(10, colon), parseInt(s.substring(colon + 1), spec));
        }
        if (s.startsWith("token:")) {
            int colon = s.lastIndexOf(':');
            if (colon <= 6) {
                throw new InvalidInputException("positions '" + spec + "': use token:TEXT:N");
            }
            return occurrence(s.substring(6, colon), parseInt(s.substring(colon + 1), spec));
        }
        String[] parts = s.split(",");
        int[] p = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            p[i] = parseInt(parts[i].trim(), spec);
        }
        return of(p);
    }

    private static int parseInt(String s, String spec) {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            throw new InvalidInputException("cannot read positions '" + spec + "': use all, last, 3,5,-1, image:K, "
                    + "token:TEXT:N or delimiter:TEXT:N");
        }
    }

    /**
     * Ascending absolute positions in a prompt of the given layout (token per position, -1-k at image k), or null
     * for all positions.
     */
    public abstract int[] resolve(int[] layout, Model model);

    /** Whether this selects every position. */
    public boolean isAll() {
        return this == ALL;
    }

    /**
     * In the generation phase: positions of the continuation, 0 = the first generated token's position, as absolute
     * positions after a prompt of promptLength positions. Only explicit offsets (>= 0) have a meaning there; "all" and
     * "last" (every generated position) are handled by the caller. Image and token positions exist only in prompts.
     */
    public int[] continuation(int promptLength) {
        if (!(this instanceof Explicit e)) {
            throw new InvalidInputException("generation-phase positions are offsets of the continuation (0 = the first "
                    + "generated token), all or last; " + this + " names positions of the prompt");
        }
        int[] r = new int[e.positions.length];
        for (int i = 0; i < r.length; i++) {
            if (e.positions[i] < 0) {
                throw new InvalidInputException("generation-phase positions count from the first generated token "
                        + "(0, 1, ...); " + e.positions[i] + " has no meaning there (last: every generated position)");
            }
            r[i] = promptLength + e.positions[i];
        }
        return Arrays.stream(r).sorted().distinct().toArray();
    }

    /** Whether this selects just the last position. */
    public boolean isLast() {
        return this instanceof Explicit e && e.positions.length == 1 && e.positions[0] == -1;
    }

    private static final Positions ALL = new Positions() {
        @Override
        public int[] resolve(int[] layout, Model model) {
            return null;
        }

        @Override
        public String toString() {
            return "all";
        }
    };

    private static final class Explicit extends Positions {
        final int[] positions;

        Explicit(int[] positions) {
            this.positions = positions;
        }

        @Override
        public int[] resolve(int[] layout, Model model) {
            int n = layout.length;
            int[] r = new int[positions.length];
            for (int i = 0; i < positions.length; i++) {
                int p = positions[i] < 0 ? n + positions[i] : positions[i];
                if (p < 0 || p >= n) {
                    throw new InvalidInputException("position " + positions[i] + " is out of range: the prompt has "
                            + n + " positions (valid: 0.." + (n - 1) + " or -1..-" + n + ")");
                }
                r[i] = p;
            }
            return Arrays.stream(r).sorted().distinct().toArray();
        }

        @Override
        public String toString() {
            return positions.length == 1 && positions[0] == -1 ? "last" : Arrays.toString(positions);
        }
    }

    private static final class Image extends Positions {
        final int k;

        Image(int k) {
            this.k = k;
        }

        @Override
        public int[] resolve(int[] layout, Model model) {
            List<Integer> r = new ArrayList<>();
            for (int i = 0; i < layout.length; i++) {
                if (layout[i] == -1 - k) {
                    r.add(i);
                }
            }
            if (r.isEmpty()) {
                throw new InvalidInputException("the prompt has no image " + k);
            }
            return r.stream().mapToInt(Integer::intValue).toArray();
        }

        @Override
        public String toString() {
            return "image:" + k;
        }
    }

    private static final class Occurrence extends Positions {
        final String text;
        final int n;
        final boolean endsWith;  // tokens ending with text (delimiter), else tokens equal to it (stripped)

        Occurrence(String text, int n, boolean endsWith) {
            this.text = text;
            this.n = n;
            this.endsWith = endsWith;
        }

        @Override
        public int[] resolve(int[] layout, Model model) {
            List<Integer> hits = new ArrayList<>();
            for (int i = 0; i < layout.length; i++) {
                if (layout[i] >= 0 && (endsWith ? model.tokenText(layout[i]).endsWith(text)
                        : model.tokenText(layout[i]).strip().equals(text))) {
                    hits.add(i);
                }
            }
            int idx = n < 0 ? hits.size() + n : n;
            if (idx < 0 || idx >= hits.size()) {
                throw new InvalidInputException("the prompt has " + hits.size() + " tokens "
                        + (endsWith ? "ending with " : "") + "'" + text + "'; occurrence " + n + " does not exist");
            }
            return new int[] {hits.get(idx)};
        }

        @Override
        public String toString() {
            return (endsWith ? "delimiter:" : "token:") + text + ":" + n;
        }
    }
}
