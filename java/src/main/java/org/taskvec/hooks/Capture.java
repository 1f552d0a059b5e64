package org.taskvec.hooks;

/**
 * Rows captured at one hook point: {@code rows[i]} is the vector at absolute position {@code positions[i]}
 * (for generation-phase captures, the i-th generated position).
 */
public record Capture(HookPoint point, int[] positions, float[][] rows) {
    /** The row at an absolute position. */
    public float[] at(int position) {
        for (int i = 0; i < positions.length; i++) {
            if (positions[i] == position) {
                return rows[i];
            }
        }
        throw new IllegalArgumentException("position " + position + " was not captured at " + point);
    }

    /** The last captured row. */
    public float[] last() {
        return rows[rows.length - 1];
    }

    /** The mean of the rows. */
    public float[] mean() {
        float[] m = new float[rows[0].length];
        for (float[] r : rows) {
            for (int i = 0; i < m.length; i++) {
                m[i] += r[i];
            }
        }
        for (int i = 0; i < m.length; i++) {
            m[i] /= rows.length;
        }
        return m;
    }
}
