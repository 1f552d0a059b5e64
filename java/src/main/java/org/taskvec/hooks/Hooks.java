package org.taskvec.hooks;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.stream.IntStream;
import org.taskvec.engine.HookPhase;

/**
 * The hooks of one run, built fluently. Hook points are {@link HookPoint} names such as
 * {@code "blocks.15.resid_post"}; they are checked against the model when the run starts.
 *
 * <pre>{@code
 * Hooks hooks = Hooks.create()
 *         .capture("blocks.15.resid_post", Positions.occurrence(":", -3))
 *         .replace("blocks.15.resid_post", Positions.last(), taskVector);
 * }</pre>
 */
public final class Hooks {
    /** One hook as given: the point by name, resolved against the model when the run starts. */
    record Pending(String point, Positions positions, HookOp op, HookPhase phase, float[][] vectors, float scale) {}

    private final List<Pending> hooks = new ArrayList<>();

    private Hooks() {}

    public static Hooks create() {
        return new Hooks();
    }

    private Hooks add(String point, Positions positions, HookOp op, HookPhase phase, float[][] vectors, float scale) {
        Objects.requireNonNull(point, "point");
        Objects.requireNonNull(positions, "positions");
        if (!(scale == scale) || Float.isInfinite(scale)) {
            throw new org.taskvec.engine.InvalidInputException("scale must be finite, got " + scale);
        }
        hooks.add(new Pending(point, positions, op, phase, vectors, scale));
        return this;
    }

    public Hooks capture(String point, Positions positions) {
        return add(point, positions, HookOp.CAPTURE, HookPhase.PROMPT, null, 1f);
    }

    /** Captures during the given phase (GENERATION: one row per generated position). */
    public Hooks capture(String point, Positions positions, HookPhase phase) {
        return add(point, positions, HookOp.CAPTURE, phase, null, 1f);
    }

    /** Captures the point kind (e.g. "resid_post") at every given layer. */
    public Hooks captureLayers(String kind, int[] layers, Positions positions) {
        org.taskvec.engine.PointKind k = org.taskvec.engine.PointKind.parse(kind);
        for (int l : layers) {
            capture(new HookPoint(k, l).name(), positions);
        }
        return this;
    }

    /** Captures the point kind at layers 0..n-1. */
    public Hooks captureLayers(String kind, int nLayers, Positions positions) {
        return captureLayers(kind, IntStream.range(0, nLayers).toArray(), positions);
    }

    /** Replaces the rows at positions with vector (the same vector at each position). */
    public Hooks replace(String point, Positions positions, float[] vector) {
        return replace(point, positions, vector, HookPhase.PROMPT);
    }

    public Hooks replace(String point, Positions positions, float[] vector, HookPhase phase) {
        Objects.requireNonNull(vector, "vector");
        return add(point, positions, HookOp.REPLACE, phase, new float[][] {vector.clone()}, 1f);
    }

    /** Replaces the rows at positions with one vector per position, in position order. */
    public Hooks replaceRows(String point, Positions positions, float[][] rows) {
        Objects.requireNonNull(rows, "rows");
        return add(point, positions, HookOp.REPLACE, HookPhase.PROMPT, copy(rows), 1f);
    }

    /** Adds scale * vector to the rows at positions. */
    public Hooks add(String point, Positions positions, float[] vector, float scale) {
        return add(point, positions, vector, scale, HookPhase.PROMPT);
    }

    public Hooks add(String point, Positions positions, float[] vector, float scale, HookPhase phase) {
        Objects.requireNonNull(vector, "vector");
        return add(point, positions, HookOp.ADD, phase, new float[][] {vector.clone()}, scale);
    }

    /** Sets the rows at positions to zero. */
    public Hooks zero(String point, Positions positions) {
        return add(point, positions, HookOp.ZERO, HookPhase.PROMPT, null, 1f);
    }

    /** Replaces the rows at positions with the mean of the point over all positions of the same prompt. */
    public Hooks meanAblate(String point, Positions positions) {
        return add(point, positions, HookOp.MEAN_ABLATE, HookPhase.PROMPT, null, 1f);
    }

    /** Replaces the rows at positions with a given mean vector (e.g. the mean over a dataset). */
    public Hooks meanAblate(String point, Positions positions, float[] mean) {
        Objects.requireNonNull(mean, "mean");
        return add(point, positions, HookOp.MEAN_ABLATE, HookPhase.PROMPT, new float[][] {mean.clone()}, 1f);
    }

    List<Pending> pending() {
        return Collections.unmodifiableList(hooks);
    }

    public int size() {
        return hooks.size();
    }

    private static float[][] copy(float[][] rows) {
        float[][] c = new float[rows.length][];
        for (int i = 0; i < rows.length; i++) {
            c[i] = rows[i].clone();
        }
        return c;
    }
}
