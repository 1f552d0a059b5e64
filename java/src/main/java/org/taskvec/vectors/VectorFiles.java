package org.taskvec.vectors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.gguf.GgmlType;
import org.taskvec.gguf.GgufFile;
import org.taskvec.gguf.GgufFormatException;
import org.taskvec.gguf.GgufReader;
import org.taskvec.gguf.GgufTensorInfo;
import org.taskvec.gguf.GgufValue;
import org.taskvec.gguf.GgufWriter;
import org.taskvec.gguf.TensorSource;

/**
 * Saves and loads {@link VectorSet}s as
 * <ul>
 *   <li>{@code .npy}: a float32 array {@code [layers, width]} for numpy users, with the layers and metadata in a
 *       JSON file beside it ({@code name.json});</li>
 *   <li>{@code .gguf}: a llama.cpp control vector (tensors {@code direction.<layer>}, loadable with llama.cpp's
 *       {@code --control-vector}, which adds each to the residual stream after its layer at every position), the
 *       metadata in {@code taskvec.*} keys. llama.cpp numbers control-vector layers from 1, so layer 0 cannot be
 *       stored in this format.</li>
 * </ul>
 */
public final class VectorFiles {
    private static final ObjectMapper JSON = new ObjectMapper();

    private VectorFiles() {}

    public static void save(Path path, VectorSet set) throws IOException {
        String name = path.getFileName().toString();
        if (name.endsWith(".npy")) {
            saveNpy(path, set);
        } else if (name.endsWith(".gguf")) {
            saveControlVector(path, set);
        } else {
            throw new InvalidInputException("vector file " + path + " must end in .npy or .gguf");
        }
    }

    public static VectorSet load(Path path) throws IOException {
        if (!Files.isRegularFile(path)) {
            throw new InvalidInputException("vector file not found: " + path);
        }
        String name = path.getFileName().toString();
        if (name.endsWith(".npy")) {
            return loadNpy(path);
        }
        if (name.endsWith(".gguf")) {
            return loadControlVector(path);
        }
        throw new InvalidInputException("vector file " + path + " must end in .npy or .gguf");
    }

    /** The JSON file that carries a .npy file's layers and metadata. */
    public static Path sidecar(Path npy) {
        String n = npy.getFileName().toString();
        return npy.resolveSibling(n.substring(0, n.length() - ".npy".length()) + ".json");
    }

    static void saveNpy(Path path, VectorSet set) throws IOException {
        int n = set.layers().length;
        int w = set.width();
        float[] data = new float[n * w];
        for (int i = 0; i < n; i++) {
            System.arraycopy(set.vectors()[i], 0, data, i * w, w);
        }
        Npy.write(path, new int[] {n, w}, data);
        ObjectNode meta = JSON.createObjectNode();
        meta.putPOJO("layers", set.layers());
        meta.put("width", w);
        set.metadata().forEach(meta::put);
        JSON.writerWithDefaultPrettyPrinter().writeValue(sidecar(path).toFile(), meta);
    }

    static VectorSet loadNpy(Path path) throws IOException {
        Npy.Array a = Npy.read(path);
        float[][] vectors;
        if (a.shape().length == 1) {
            vectors = new float[][] {a.data()};
        } else if (a.shape().length == 2) {
            vectors = new float[a.shape()[0]][];
            for (int i = 0; i < vectors.length; i++) {
                vectors[i] = a.row(i);
            }
        } else {
            throw new InvalidInputException(path + " has shape " + java.util.Arrays.toString(a.shape())
                    + "; a vector file holds [width] or [layers, width]");
        }
        int[] layers = new int[vectors.length];
        Map<String, String> meta = new LinkedHashMap<>();
        Path side = sidecar(path);
        if (Files.exists(side)) {
            JsonNode j = JSON.readTree(side.toFile());
            JsonNode l = j.get("layers");
            if (l != null && l.size() == vectors.length) {
                for (int i = 0; i < layers.length; i++) {
                    layers[i] = l.get(i).asInt();
                }
            }
            j.fields().forEachRemaining(e -> {
                if (!e.getKey().equals("layers") && !e.getKey().equals("width")) {
                    meta.put(e.getKey(), e.getValue().asText());
                }
            });
        } else {
            for (int i = 0; i < layers.length; i++) {
                layers[i] = vectors.length == 1 ? -1 : i; // a lone vector has no layer of its own
            }
        }
        return new VectorSet(layers, vectors, meta);
    }

    static void saveControlVector(Path path, VectorSet set) throws IOException {
        GgufWriter w = new GgufWriter();
        w.put("general.architecture", GgufValue.string("controlvector"));
        w.put("controlvector.model_hint", GgufValue.string(set.metadata().getOrDefault("architecture", "llama")));
        w.put("controlvector.layer_count", GgufValue.int32(set.layers().length));
        set.metadata().forEach((k, v) -> w.put("taskvec." + k, GgufValue.string(v)));
        for (int i = 0; i < set.layers().length; i++) {
            int layer = set.layers()[i];
            if (layer < 1) {
                throw new InvalidInputException("llama.cpp control vectors number layers from 1; layer " + layer
                        + " cannot be stored as a control vector (save it as .npy)");
            }
            w.tensor("direction." + layer, GgmlType.F32, TensorSource.of(set.vectors()[i]), set.width());
        }
        w.write(path);
    }

    static VectorSet loadControlVector(Path path) throws IOException {
        GgufFile g;
        try {
            g = GgufReader.read(path);
        } catch (GgufFormatException e) {
            throw new InvalidInputException(path + " is not a valid GGUF file: " + e.getMessage());
        }
        List<Integer> layers = new ArrayList<>();
        List<float[]> vectors = new ArrayList<>();
        for (GgufTensorInfo t : g.tensors()) {
            if (!t.name().startsWith("direction.")) {
                continue;
            }
            if (t.type() != GgmlType.F32 || t.shape().length != 1) {
                throw new InvalidInputException(path + ": " + t.name() + " is not a 1-D F32 tensor");
            }
            layers.add(Integer.parseInt(t.name().substring("direction.".length())));
            vectors.add(GgufReader.readTensor(g, t));
        }
        if (layers.isEmpty()) {
            throw new InvalidInputException(path + " holds no direction.<layer> tensors");
        }
        Map<String, String> meta = new LinkedHashMap<>();
        g.metadata().forEach((k, v) -> {
            if (k.startsWith("taskvec.")) {
                meta.put(k.substring("taskvec.".length()), String.valueOf(v.value()));
            }
        });
        return new VectorSet(layers.stream().mapToInt(Integer::intValue).toArray(), vectors.toArray(new float[0][]),
                meta);
    }
}
