package org.taskvec.vectors;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.taskvec.engine.InvalidInputException;

/**
 * Vectors for a hook point, one per layer, with metadata kept beside the numbers: the model they came from, the
 * hook point kind, and how they were made (provenance).
 *
 * @param layers the layer of each vector
 * @param vectors one vector per layer, all of the same width
 * @param metadata string metadata (keys such as {@code model}, {@code point}, {@code provenance})
 */
public record VectorSet(int[] layers, float[][] vectors, Map<String, String> metadata) {
    public static final String MODEL = "model";
    public static final String POINT = "point";
    public static final String PROVENANCE = "provenance";

    public VectorSet {
        if (layers.length != vectors.length || layers.length == 0) {
            throw new InvalidInputException("a vector set needs one vector per layer (" + layers.length
                    + " layers, " + vectors.length + " vectors)");
        }
        for (float[] v : vectors) {
            if (v.length != vectors[0].length) {
                throw new InvalidInputException("vectors of a set must have one width");
            }
        }
        layers = layers.clone();
        metadata = Map.copyOf(new LinkedHashMap<>(metadata));
    }

    /** One vector for one layer. */
    public static VectorSet single(int layer, float[] vector, Map<String, String> metadata) {
        return new VectorSet(new int[] {layer}, new float[][] {vector.clone()}, metadata);
    }

    public int width() {
        return vectors[0].length;
    }

    /** The vector of a layer. */
    public float[] forLayer(int layer) {
        for (int i = 0; i < layers.length; i++) {
            if (layers[i] == layer) {
                return vectors[i].clone();
            }
        }
        throw new InvalidInputException("no vector for layer " + layer + "; the file has layers "
                + Arrays.toString(layers));
    }

    @Override
    public String toString() {
        return "VectorSet[layers=" + Arrays.toString(layers) + ", width=" + width() + ", " + metadata + "]";
    }
}
