package org.taskvec.engine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Resolves a "--gpu-layers" setting: a number, or "auto" (planned against the first GPU's free memory). */
public final class GpuLayers {
    private GpuLayers() {}

    /** The decision and why. */
    public record Choice(int layers, String why) {}

    public static Choice resolve(String spec, Path model, Path projector, int contextSize) {
        return resolve(spec, model, projector, contextSize, List.of());
    }

    /**
     * As {@link #resolve(String, Path, Path, int)}, with RPC servers: "auto" then plans against this host's first
     * GPU's free memory plus every remote device's free memory (each server is asked).
     */
    public static Choice resolve(String spec, Path model, Path projector, int contextSize, List<String> rpcServers) {
        if (spec.equals("auto") && !rpcServers.isEmpty()) {
            NativeLibrary.ensureLoaded();
            long free = 0;
            long total = 0;
            StringBuilder where = new StringBuilder();
            List<GpuDevices.GpuDevice> gpus = NativeLibrary.gpuOffloadSupported() ? GpuDevices.list() : List.of();
            if (!gpus.isEmpty()) {
                free += gpus.get(0).freeBytes();
                total += gpus.get(0).totalBytes();
                where.append(gpus.get(0).name()).append(' ').append(gpus.get(0).freeBytes() >> 20).append(" MiB free");
            }
            for (String e : rpcServers) {
                for (RpcServers.RemoteDevice d : RpcServers.devices(e)) {
                    free += d.freeBytes();
                    total += d.totalBytes();
                    where.append(where.length() == 0 ? "" : ", ").append("RPC ").append(e).append('#').append(d.index())
                            .append(' ').append(d.freeBytes() >> 20).append(" MiB free");
                }
            }
            return plan(model, projector, contextSize, free, total, where.toString());
        }
        if (!spec.equals("auto")) {
            try {
                int n = Integer.parseInt(spec.trim());
                return new Choice(n, "as given");
            } catch (NumberFormatException e) {
                throw new InvalidInputException("--gpu-layers must be a number (-1 = all) or auto, got '" + spec + "'");
            }
        }
        NativeLibrary.ensureLoaded();
        if (!NativeLibrary.gpuOffloadSupported()) {
            return new Choice(0, "CPU: this build of the natives has no GPU backend with a device");
        }
        List<GpuDevices.GpuDevice> gpus = GpuDevices.list();
        if (gpus.isEmpty()) {
            return new Choice(0, "CPU: " + GpuDevices.unavailableReason());
        }
        GpuDevices.GpuDevice g = gpus.get(0);
        return plan(model, projector, contextSize, g.freeBytes(), g.totalBytes(),
                g.name() + " (" + g.freeBytes() / (1 << 20) + " MiB free)");
    }

    /** The offload plan for model (and projector) against free of total bytes; where: the memory's description. */
    private static Choice plan(Path model, Path projector, int contextSize, long free, long total, String where) {
        try {
            long proj = projector == null ? 0 : Files.size(projector);
            OffloadPlanner.Plan p = OffloadPlanner.plan(Model.checkModelFile(model), proj, contextSize, 2, free,
                    total);
            return new Choice(p.gpuLayers(), where + ": " + p.reason());
        } catch (IOException e) {
            throw new ModelLoadException("cannot read " + projector + ": " + e.getMessage(), e);
        }
    }
}
