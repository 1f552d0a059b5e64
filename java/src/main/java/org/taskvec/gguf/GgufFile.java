package org.taskvec.gguf;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The header of a GGUF file: metadata and tensor directory, checked for structural soundness by
 * {@link GgufReader}. Tensor data stays on disk; {@link GgufReader#readTensor} fetches it.
 */
public final class GgufFile {
    private final Path path;
    private final int version;
    private final Map<String, GgufValue> metadata;
    private final List<GgufTensorInfo> tensors;
    private final long dataOffset;
    private final int alignment;

    GgufFile(Path path, int version, LinkedHashMap<String, GgufValue> metadata, List<GgufTensorInfo> tensors,
             long dataOffset, int alignment) {
        this.path = path;
        this.version = version;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.tensors = List.copyOf(tensors);
        this.dataOffset = dataOffset;
        this.alignment = alignment;
    }

    public Path path() { return path; }
    public int version() { return version; }
    public Map<String, GgufValue> metadata() { return metadata; }
    public List<GgufTensorInfo> tensors() { return tensors; }
    /** Absolute file offset of the data section. */
    public long dataOffset() { return dataOffset; }
    public int alignment() { return alignment; }

    public Optional<GgufValue> get(String key) {
        return Optional.ofNullable(metadata.get(key));
    }

    public Optional<String> getString(String key) {
        return get(key).filter(v -> v.type() == GgufValueType.STRING).map(GgufValue::asString);
    }

    public Optional<Long> getLong(String key) {
        return get(key).filter(v -> v.value() instanceof Number && v.type() != GgufValueType.FLOAT32
                && v.type() != GgufValueType.FLOAT64).map(GgufValue::asLong);
    }

    public Optional<GgufTensorInfo> tensor(String name) {
        return tensors.stream().filter(t -> t.name().equals(name)).findFirst();
    }

    /** general.architecture, or "" when absent. */
    public String architecture() {
        return getString("general.architecture").orElse("");
    }
}
