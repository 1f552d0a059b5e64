package org.taskvec.xpatch;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.function.Supplier;
import org.taskvec.vectors.Npy;

/**
 * Extracted task vectors on disk, so that an interrupted or repeated run does not extract them again. Entries are
 * keyed by the model file's SHA-256 and everything that determines the vectors (task data, specification, seed,
 * example count); each entry stores its own checksum and is re-extracted, not trusted, when it does not match.
 */
final class VectorCache {
    private final Path dir;
    private final String modelDigest;

    VectorCache(Path dir, Path modelFile) {
        this.dir = dir;
        this.modelDigest = dir == null ? "" : digestOf(modelFile, dir);
    }

    /** The vectors for key, from disk or computed (and stored). */
    float[][] get(String key, Supplier<float[][]> compute) {
        if (dir == null) {
            return compute.get();
        }
        String name = hex(sha256((modelDigest + "\n" + key).getBytes(StandardCharsets.UTF_8)));
        Path npy = dir.resolve(name + ".npy");
        Path sum = dir.resolve(name + ".sha256");
        try {
            if (Files.exists(npy) && Files.exists(sum)
                    && Files.readString(sum).strip().equals(hex(sha256(Files.readAllBytes(npy))))) {
                Npy.Array a = Npy.read(npy);
                float[][] out = new float[a.shape()[0]][];
                for (int i = 0; i < out.length; i++) {
                    out[i] = a.row(i);
                }
                return out;
            }
            float[][] v = compute.get();
            Files.createDirectories(dir);
            float[] flat = new float[v.length * v[0].length];
            for (int i = 0; i < v.length; i++) {
                System.arraycopy(v[i], 0, flat, i * v[0].length, v[0].length);
            }
            Path tmp = Files.createTempFile(dir, name, ".tmp");
            Npy.write(tmp, new int[] {v.length, v[0].length}, flat);
            String checksum = hex(sha256(Files.readAllBytes(tmp)));
            Files.move(tmp, npy, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            Files.writeString(sum, checksum);
            return v;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** SHA-256 of a model file, remembered per (path, size, modification time) so it is read once. */
    static String digestOf(Path file, Path cacheDir) {
        try {
            String id = file.toAbsolutePath() + "|" + Files.size(file) + "|" + Files.getLastModifiedTime(file).toMillis();
            Path memo = cacheDir.resolve("digests").resolve(hex(sha256(id.getBytes(StandardCharsets.UTF_8))));
            if (Files.exists(memo)) {
                return Files.readString(memo).strip();
            }
            String digest = org.taskvec.engine.CacheFolder.sha256(file);
            Files.createDirectories(memo.getParent());
            Files.writeString(memo, digest);
            return digest;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] sha256(byte[] b) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(b);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }
}
