package org.taskvec.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.taskvec.engine.Image;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import picocli.CommandLine.Option;

/** Prompt and session options shared by commands that run a prompt. */
final class PromptOptions {
    @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "prompt text (\\n for newline)")
    String prompt;

    @Option(names = "--image", paramLabel = "FILE", description = "image file (PNG, JPEG); repeatable; placed at "
            + Prompt.MEDIA_MARKER + " or before the text")
    List<Path> images = new ArrayList<>();

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: cores, at most 8)")
    Integer threads;

    @Option(names = "--ctx", defaultValue = "4096", paramLabel = "N", description = "context size")
    int contextSize;

    @Option(names = "--kv-type", defaultValue = "f16", paramLabel = "f16|f32",
            description = "KV cache type (f32 for reference-exact attention); default ${DEFAULT-VALUE}")
    String kvType;

    @Option(names = "--flash-attn", defaultValue = "auto", paramLabel = "auto|on|off",
            description = "flash attention, of the text model and of the projector's vision encoder (off: F32 "
                    + "attention in both); default ${DEFAULT-VALUE}")
    String flashAttn;

    Prompt prompt() {
        List<Image> imgs = new ArrayList<>();
        for (Path p : images) {
            imgs.add(Image.read(p));
        }
        return Prompt.withImages(prompt.replace("\\n", "\n"), imgs);
    }

    Session session(Model model) {
        SessionParams sp = SessionParams.defaults().withContextSize(contextSize)
                .withKvCacheType(switch (kvType) {
                    case "f16" -> SessionParams.KvCacheType.F16;
                    case "f32" -> SessionParams.KvCacheType.F32;
                    default -> throw new org.taskvec.engine.InvalidInputException("--kv-type must be f16 or f32");
                })
                .withFlashAttention(flashAttention());
        if (threads != null) {
            sp = sp.withThreads(threads);
        }
        return model.newSession(sp);
    }

    /** --flash-attn: of the text model's attention and of the projector's vision encoder. */
    SessionParams.FlashAttention flashAttention() {
        return switch (flashAttn) {
            case "auto" -> SessionParams.FlashAttention.AUTO;
            case "on" -> SessionParams.FlashAttention.ON;
            case "off" -> SessionParams.FlashAttention.OFF;
            default -> throw new org.taskvec.engine.InvalidInputException("--flash-attn must be auto, on or off");
        };
    }

    /** Layers from "all", "A-B" or "L,L,...". */
    static int[] parseLayers(String spec, int nLayer) {
        String s = spec.trim();
        if (s.equals("all")) {
            return java.util.stream.IntStream.range(0, nLayer).toArray();
        }
        try {
            if (s.matches("\\d+-\\d+")) {
                String[] ab = s.split("-");
                int a = Integer.parseInt(ab[0]);
                int b = Integer.parseInt(ab[1]);
                if (a > b) {
                    throw new org.taskvec.engine.InvalidInputException("layer range " + s + " is empty");
                }
                return java.util.stream.IntStream.rangeClosed(a, b).toArray();
            }
            return java.util.Arrays.stream(s.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
        } catch (NumberFormatException e) {
            throw new org.taskvec.engine.InvalidInputException("cannot read layers '" + spec
                    + "': use all, A-B or L,L,...");
        }
    }
}
