package org.taskvec.engine;

import java.util.Arrays;
import java.util.Objects;

/**
 * One hook as a session takes it ({@link Session#addHook}): a point kind and block, an action, a phase and absolute
 * positions. The {@code org.taskvec.hooks} package builds these from TransformerLens names and position selectors
 * (prompt-relative, images, delimiters) and removes them after the run; use that unless you manage positions
 * yourself.
 *
 * @param point the kind of point
 * @param layer block index (ignored for points without one)
 * @param action what the hook does
 * @param phase when it applies
 * @param positions ascending absolute positions, or null for every position evaluated while it is active
 * @param rows rows of data: captured rows for a capture; for replace / add, 1 (broadcast) or one per position
 * @param data input rows (rows x width) for replace / add; null for capture and zero
 * @param scale factor of data for add
 * @param seq the sequence whose positions these are (0 in a single-sequence session; -1: every sequence)
 */
public record HookSpec(PointKind point, int layer, HookAction action, HookPhase phase, int[] positions, int rows,
                       float[] data, float scale, int seq) {
    /** A hook on sequence 0. */
    public HookSpec(PointKind point, int layer, HookAction action, HookPhase phase, int[] positions, int rows,
                    float[] data, float scale) {
        this(point, layer, action, phase, positions, rows, data, scale, 0);
    }

    public HookSpec {
        Objects.requireNonNull(point, "point");
        Objects.requireNonNull(action, "action");
        Objects.requireNonNull(phase, "phase");
        positions = positions == null ? null : positions.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HookSpec h && point == h.point && layer == h.layer && action == h.action
                && phase == h.phase && Arrays.equals(positions, h.positions) && rows == h.rows
                && Arrays.equals(data, h.data) && scale == h.scale && seq == h.seq;
    }

    @Override
    public int hashCode() {
        return Objects.hash(point, layer, action, phase, Arrays.hashCode(positions), rows, scale, seq);
    }

    @Override
    public String toString() {
        return "HookSpec[" + point.shortName + (point.perLayer ? " of block " + layer : "") + ", " + action + ", "
                + phase + ", positions=" + (positions == null ? "all" : Arrays.toString(positions)) + ", rows="
                + rows + (seq == 0 ? "" : ", seq=" + seq) + "]";
    }
}
