package org.taskvec.gguf;

import java.util.List;

/**
 * A GGUF metadata value. Scalars are boxed Java values (unsigned types widened: UINT32 as Long, UINT64 as Long);
 * arrays are Java arrays ({@code long[]}, {@code int[]}, {@code float[]}, {@code double[]}, {@code boolean[]},
 * {@code byte[]}) or {@code List<String>}, with {@link #elementType()} giving the element type.
 */
public record GgufValue(GgufValueType type, GgufValueType elementType, Object value) {
    public static GgufValue string(String s) { return new GgufValue(GgufValueType.STRING, null, s); }
    public static GgufValue uint32(long v) { return new GgufValue(GgufValueType.UINT32, null, v); }
    public static GgufValue int32(int v) { return new GgufValue(GgufValueType.INT32, null, v); }
    public static GgufValue uint64(long v) { return new GgufValue(GgufValueType.UINT64, null, v); }
    public static GgufValue float32(float v) { return new GgufValue(GgufValueType.FLOAT32, null, v); }
    public static GgufValue bool(boolean v) { return new GgufValue(GgufValueType.BOOL, null, v); }
    public static GgufValue strings(List<String> v) { return new GgufValue(GgufValueType.ARRAY, GgufValueType.STRING, List.copyOf(v)); }
    public static GgufValue float32s(float[] v) { return new GgufValue(GgufValueType.ARRAY, GgufValueType.FLOAT32, v.clone()); }
    public static GgufValue int32s(int[] v) { return new GgufValue(GgufValueType.ARRAY, GgufValueType.INT32, v.clone()); }

    public String asString() {
        return (String) value;
    }

    /** Integer scalar of any width as long. */
    public long asLong() {
        if (value instanceof Number n && type != GgufValueType.FLOAT32 && type != GgufValueType.FLOAT64) {
            return n.longValue();
        }
        throw new IllegalStateException("not an integer value: " + type);
    }

    public double asDouble() {
        if (value instanceof Number n) {
            return n.doubleValue();
        }
        throw new IllegalStateException("not a number: " + type);
    }

    public boolean asBoolean() {
        return (Boolean) value;
    }

    /** Short human-readable form (arrays summarised). */
    @Override
    public String toString() {
        if (type != GgufValueType.ARRAY) {
            return String.valueOf(value);
        }
        int n = value instanceof List<?> l ? l.size() : java.lang.reflect.Array.getLength(value);
        return "[" + elementType + " x " + n + "]";
    }
}
