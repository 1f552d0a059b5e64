package org.taskvec.gguf;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.function.Consumer;

/** GGUF headers for tests of the file rules: a read header with its metadata or tensor directory changed. */
public final class GgufFiles {
    private GgufFiles() {}

    /** A copy of f's header, named path, with its metadata and tensor directory changed by the two editors. */
    public static GgufFile edit(GgufFile f, Path path, Consumer<LinkedHashMap<String, GgufValue>> metadata,
                                Consumer<List<GgufTensorInfo>> tensors) {
        LinkedHashMap<String, GgufValue> m = new LinkedHashMap<>(f.metadata());
        List<GgufTensorInfo> t = new ArrayList<>(f.tensors());
        metadata.accept(m);
        tensors.accept(t);
        return new GgufFile(path, f.version(), m, t, f.dataOffset(), f.alignment());
    }

    /** f's tensor directory with the tensor name given shape (added, as F32, when f has none of that name). */
    public static void reshape(List<GgufTensorInfo> tensors, String name, long... shape) {
        for (int i = 0; i < tensors.size(); i++) {
            GgufTensorInfo t = tensors.get(i);
            if (t.name().equals(name)) {
                tensors.set(i, new GgufTensorInfo(name, shape, t.type(), t.offset()));
                return;
            }
        }
        tensors.add(new GgufTensorInfo(name, shape, GgmlType.F32, 0));
    }

    /** Removes the named tensors; fails if one is absent. */
    public static void remove(List<GgufTensorInfo> tensors, String... names) {
        for (String n : names) {
            if (!tensors.removeIf(t -> t.name().equals(n))) {
                throw new IllegalArgumentException("no tensor " + n);
            }
        }
    }
}
