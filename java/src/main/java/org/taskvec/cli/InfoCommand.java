package org.taskvec.cli;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import org.taskvec.engine.Model;
import org.taskvec.engine.ModelInfo;
import org.taskvec.engine.NativeLibrary;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.hooks.HookPoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code taskvec info}: prints a model's metadata. */
@Command(name = "info", mixinStandardHelpOptions = true, description = "Print a model's metadata, the engine and the GPUs.")
final class InfoCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "M",
            description = "GGUF model file (without one: only the engine, the natives' folder and the GPUs)")
    Path model;

    @Mixin
    LoadOptions loading;

    @Option(names = "--all", description = "print every metadata key (arrays summarised)")
    boolean all;

    @Override
    public Integer call() {
        if (model == null) {  // the engine alone: what the GPU check runs before any model exists
            printEngine();
            return 0;
        }
        try (Model model = loading.load(this.model)) {
            ModelInfo i = model.info();
            System.out.println("model          " + model.path());
            System.out.println("architecture   " + i.architecture());
            System.out.println("name           " + i.name());
            System.out.println("description    " + i.description());
            System.out.println("layers         " + i.layers());
            System.out.println("embedding      " + i.embeddingSize());
            System.out.println("heads          " + i.heads() + " (KV " + i.kvHeads() + ")");
            System.out.println("vocabulary     " + i.vocabularySize() + " (BOS " + model.bosToken() + ", EOS "
                    + model.eosToken() + ")");
            System.out.println("train context  " + i.trainingContext());
            System.out.printf("parameters     %,d (%.1f MB)%n", i.parameters(), i.sizeBytes() / 1e6);
            System.out.println("chat template  " + (i.chatTemplate() == null ? "(none)"
                    : i.chatTemplate().length() > 60 ? i.chatTemplate().substring(0, 60).replace('\n', ' ') + "..."
                    : i.chatTemplate().replace('\n', ' ')));
            if (model.hasProjector()) {
                int side = model.projectorHeader().flatMap(h -> h.getLong("clip.vision.image_size")).orElse(0L).intValue();
                System.out.println("projector      " + loading.mmproj);
                if (side > 0) {
                    System.out.println("image tokens   " + model.imageTokens(side, side) + " for a " + side + "x"
                            + side + " image");
                }
            } else {
                System.out.println("projector      (none)");
            }
            printDevices(model, i.layers());
            printHookPoints(model, i.layers());
            printEngine();
            if (all) {
                for (Map.Entry<String, String> e : model.metadata().entrySet()) {
                    String v = e.getValue() == null ? "" : e.getValue().replace('\n', ' ');
                    System.out.println("  " + e.getKey() + " = " + (v.length() > 100 ? v.substring(0, 100) + "..." : v));
                }
            }
        }
        return 0;
    }

    /** Where the layers are: each offload device (RPC servers' first) with its memory, and this process's CPU. */
    private static void printDevices(Model model, int layers) {
        java.util.List<Model.Device> devices = model.devices();
        if (devices.isEmpty()) {
            System.out.println("layers on      this CPU (all " + layers + ")");
            return;
        }
        System.out.println("layers on      (repeating layers per device; the rest on this CPU)");
        for (Model.Device d : devices) {
            System.out.printf("  %-12s %-22s %3d layers, %,d MiB free of %,d MiB%s%n", d.name(), d.description(),
                    d.layers(), d.freeBytes() >> 20, d.totalBytes() >> 20, d.remote() ? " (remote)" : "");
        }
        System.out.printf("  %-12s %-22s %3d layers%n", "CPU", "this process", model.cpuLayers());
    }

    /** The hook points this model's graph offers, per kind: the blocks, and the node that holds the first one. */
    private static void printHookPoints(Model model, int layers) {
        try (Session s = model.newSession(SessionParams.defaults().withContextSize(256))) {
            java.util.List<HookPoint> offered = HookPoint.offered(s, layers);
            System.out.println("hook points    (checked against this model's graph)");
            for (org.taskvec.engine.PointKind k : org.taskvec.engine.PointKind.values()) {
                java.util.List<HookPoint> of = offered.stream().filter(p -> p.kind() == k).toList();
                if (of.isEmpty()) {
                    System.out.printf("  %-12s not in this model's graph%n", k.shortName);
                    continue;
                }
                HookPoint first = of.get(0);
                String where = k.perLayer ? "blocks " + ranges(of) + " " : "";
                System.out.printf("  %-12s %s[%s%s]%n", k.shortName, where,
                        k.perLayer ? "block " + first.layer() + ": " : "", first.node(s).orElse("?"));
            }
        }
    }

    /** Layers as ranges, e.g. "0-3" or "1-3". */
    private static String ranges(java.util.List<HookPoint> points) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < points.size(); ) {
            int j = i;
            while (j + 1 < points.size() && points.get(j + 1).layer() == points.get(j).layer() + 1) {
                j++;
            }
            b.append(b.length() == 0 ? "" : ",").append(points.get(i).layer());
            if (j > i) {
                b.append('-').append(points.get(j).layer());
            }
            i = j + 1;
        }
        return b.toString();
    }

    /** The natives' version, where they were loaded from, the CPU features, the GPUs and GPU offload. */
    private static void printEngine() {
        System.out.println("llama.cpp      " + NativeLibrary.llamaVersion());
        System.out.println("natives        " + NativeLibrary.loadedFrom());
        System.out.println("system         " + NativeLibrary.systemInfo().trim());
        var gpus = org.taskvec.engine.GpuDevices.list();
        if (gpus.isEmpty()) {
            System.out.println("gpus           none (" + org.taskvec.engine.GpuDevices.unavailableReason() + ")");
        }
        for (var g : gpus) {
            System.out.printf("gpu %d          %s, compute %s, %d of %d MiB free%n", g.index(), g.name(),
                g.computeCapability(), g.freeBytes() >> 20, g.totalBytes() >> 20);
        }
        System.out.println("gpu offload    " + (NativeLibrary.gpuOffloadSupported() ? "available in this build"
                : "not in this build (CPU natives)"));
    }
}
