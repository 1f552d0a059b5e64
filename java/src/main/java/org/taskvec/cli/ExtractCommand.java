package org.taskvec.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.taskvec.engine.Model;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.tasks.Modality;
import org.taskvec.tasks.TaskData;
import org.taskvec.tasks.TaskLoader;
import org.taskvec.vectors.VectorFiles;
import org.taskvec.vectors.VectorSet;
import org.taskvec.xpatch.TaskVectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code taskvec extract}: saves a task vector (all layers) from examples or an instruction. */
@Command(name = "extract", mixinStandardHelpOptions = true,
        description = "Extract a task vector for every layer from text or image examples of a task, or from an "
                + "instruction, and save it (.npy or control-vector .gguf); apply it with taskvec patch.")
final class ExtractCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--task", paramLabel = "T", description = "task whose validation examples specify it")
    String task;

    @Option(names = "--data", paramLabel = "DIR", description = "tasks in the paper's format (default: built-in)")
    Path data;

    @Option(names = "--from", defaultValue = "text", paramLabel = "text|image|instruction",
            description = "the specification (default ${DEFAULT-VALUE})")
    String from;

    @Option(names = "--instruction", paramLabel = "TEXT", description = "instruction text (default: the task's)")
    String instruction;

    @Option(names = "--examples", defaultValue = "5", paramLabel = "N", description = "default ${DEFAULT-VALUE}")
    int examples;

    @Option(names = "--seed", defaultValue = "1", paramLabel = "S", description = "default ${DEFAULT-VALUE}")
    int seed;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads")
    Integer threads;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = ".npy or .gguf")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (task == null && !(from.equals("instruction") && instruction != null)) {
            throw new org.taskvec.engine.InvalidInputException("--task is required (or --from instruction with "
                    + "--instruction TEXT)");
        }
        try (Model model = modelOptions.load()) {
            SessionParams sp = SessionParams.defaults().withContextSize(4096);
            if (threads != null) {
                sp = sp.withThreads(threads);
            }
            try (Session session = model.newSession(sp)) {
                TaskData t = task == null ? null : data == null ? TaskLoader.builtin(task) : TaskLoader.paperFormat(data, task);
                VectorSet v = switch (from) {
                    case "text" -> TaskVectors.fromExamples(session, t, Modality.TEXT, examples, seed);
                    case "image" -> TaskVectors.fromExamples(session, t, Modality.IMAGE, examples, seed);
                    case "instruction" -> TaskVectors.fromInstruction(session,
                            instruction != null ? instruction : t.instruction());
                    default -> throw new org.taskvec.engine.InvalidInputException("--from must be text, image or instruction");
                };
                if (out.getFileName().toString().endsWith(".gguf")) {
                    // llama.cpp control vectors have no layer 0
                    v = new VectorSet(java.util.Arrays.copyOfRange(v.layers(), 1, v.layers().length),
                            java.util.Arrays.copyOfRange(v.vectors(), 1, v.vectors().length), v.metadata());
                }
                VectorFiles.save(out, v);
                System.out.println("wrote " + out + ": " + v.layers().length + " layers x " + v.width() + " ("
                        + v.metadata().get(VectorSet.PROVENANCE) + ")");
            }
        }
        return 0;
    }
}
