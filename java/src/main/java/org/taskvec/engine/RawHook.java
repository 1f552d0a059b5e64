package org.taskvec.engine;

import java.util.Arrays;
import java.util.Objects;

/**
 * A hook as the native layer takes it: numeric point and operation codes, absolute positions. The
 * {@code org.taskvec.hooks} package builds these from hook-point names and position selectors; use that instead.
 *
 * @param point point code (see {@link org.taskvec.nativeapi.TaskvecNative}'s TV_POINT_*)
 * @param layer block index (ignored for points without one)
 * @param op operation code (TV_HOOK_*)
 * @param phase when it applies (TV_PHASE_*)
 * @param positions ascending absolute positions, or null for every position evaluated while it is active
 * @param rows rows of data: captured rows for a capture; for replace / add, 1 (broadcast) or one per position
 * @param data input rows (rows x width) for replace / add; null for capture and zero
 * @param scale factor of data for add
 */
public record RawHook(int point, int layer, int op, int phase, int[] positions, int rows, float[] data, float scale) {
    public RawHook {
        positions = positions == null ? null : positions.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RawHook h && point == h.point && layer == h.layer && op == h.op && phase == h.phase
                && Arrays.equals(positions, h.positions) && rows == h.rows && Arrays.equals(data, h.data)
                && scale == h.scale;
    }

    @Override
    public int hashCode() {
        return Objects.hash(point, layer, op, phase, Arrays.hashCode(positions), rows, scale);
    }

    @Override
    public String toString() {
        return "RawHook[point=" + point + ", layer=" + layer + ", op=" + op + ", phase=" + phase + ", positions="
                + (positions == null ? "all" : Arrays.toString(positions)) + ", rows=" + rows + "]";
    }
}
