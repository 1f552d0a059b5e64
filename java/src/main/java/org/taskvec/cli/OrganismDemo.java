package org.taskvec.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.Image;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.engine.Model;
import org.taskvec.engine.ModelParams;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.tasks.Correctness;
import org.taskvec.tasks.IclPrompts;
import org.taskvec.tasks.Modality;
import org.taskvec.tasks.TaskData;
import org.taskvec.tasks.TaskItem;
import org.taskvec.tasks.TaskLoader;
import org.taskvec.xpatch.TaskVectors;

/**
 * The demo on the model organism: the paper's effect in four prompts. Text in-context learning (country ->
 * capital), the bare image of France's flag (the model names what it sees), and task vectors read from text
 * examples (as {@code taskvec xpatch} extracts them: mean over the task's 30 validation prompts of 5 examples)
 * written into that image query: the capital vector replacing the residual as the paper does (at the layer
 * xpatch's sweep chose), then added to it (at the layer the sweep of {@code --patch-mode add} chose), then the
 * currency vector added. The layers come from manifest.json. Each line says what was expected and whether it came.
 */
final class OrganismDemo {
    private final PrintStream out;
    private final Path dir;
    private int asExpected;
    private int shown;

    OrganismDemo(PrintStream out, Path dir) {
        this.out = out;
        this.dir = dir;
    }

    int run() throws IOException {
        Path modelFile = dir.resolve("model.gguf");
        Path projFile = dir.resolve("mmproj.gguf");
        Path manifestFile = dir.resolve("manifest.json");
        for (Path f : List.of(modelFile, projFile, manifestFile)) {
            if (!Files.isRegularFile(f)) {
                throw new InvalidInputException("the model organism in " + dir + " lacks " + f.getFileName());
            }
        }
        JsonNode manifest = new ObjectMapper().readTree(manifestFile.toFile());
        int layer = layerOf(manifest, "table", manifestFile);
        int addLayer = layerOf(manifest, "table_add", manifestFile);
        TaskData capital = TaskLoader.builtin("country-capital");
        TaskData currency = TaskLoader.builtin("country-currency");
        TaskItem france = find(capital, "France");
        TaskItem franceCurrency = find(currency, "France");
        try (Model model = Model.load(modelFile, ModelParams.defaults().withProjector(projFile));
             Session session = model.newSession()) {
            var info = model.info();
            out.printf("model organism: %s (%s, %d layers, width %d) + %s%n", shown(modelFile), manifest.path("files")
                    .path("model.gguf").path("type").asText("?"), info.layers(), info.embeddingSize(), shown(projFile));
            out.println("  trained here by organism/train.py (" + manifest.path("training").path("command").asText("")
                    + "); manifest: " + shown(manifestFile));
            for (int l : new int[] {layer, addLayer}) {
                if (l < 0 || l >= info.layers()) {
                    throw new InvalidInputException(manifestFile + ": chosen layer " + l + " is not a layer of the model");
                }
            }
            GenerationParams gp = GenerationParams.greedy(4);

            List<TaskItem> examples = capital.val().subList(0, 5);
            Prompt icl = IclPrompts.build(examples, Modality.TEXT, france, Modality.TEXT, it -> null);
            out.println();
            out.println("1. text in-context learning, 5 examples of country -> capital:");
            out.println("   " + icl.toString().replace("\n", "\\n"));
            show("answer", session.generate(icl, gp).text(), france.output());

            Image flag = Image.read(capital.imageOf(france));
            Prompt query = IclPrompts.query(france, Modality.IMAGE, it -> flag);
            out.println();
            out.println("2. the bare image of France's flag (" + flag.width() + "x" + flag.height() + "): Q:<image>\\nA:");
            show("answer", session.generate(query, gp).text(), "France");

            var capitalVectors = TaskVectors.fromExamples(session, capital, Modality.TEXT, 5, 1);
            var currencyVectors = TaskVectors.fromExamples(session, currency, Modality.TEXT, 5, 1);
            String point = "blocks." + layer + ".resid_post";
            out.println();
            out.println("3. cross-modal patching as in the paper: the country -> capital task vector from TEXT examples ("
                    + point + ", mean over " + capital.val().size() + " validation prompts) REPLACES the image "
                    + "query's residual at its final ':'");
            show("answer", patched(session, query, point, capitalVectors.forLayer(layer), false, gp), france.output());

            String addPoint = "blocks." + addLayer + ".resid_post";
            out.println();
            out.println("4. the same vector ADDED to the residual instead (as function vectors; " + addPoint
                    + ", the layer xpatch --patch-mode add chose): the query keeps its own state, the flag");
            show("answer", patched(session, query, addPoint, capitalVectors.forLayer(addLayer), true, gp), france.output());

            out.println();
            out.println("5. the country -> currency task vector, added the same way to the same image query");
            show("answer", patched(session, query, addPoint, currencyVectors.forLayer(addLayer), true, gp),
                    franceCurrency.output());
        }
        out.println();
        out.println(asExpected + " of " + shown + " as expected. The paper's whole table on this model: ./taskvec xpatch "
                + "--model " + shown(modelFile) + " --mmproj " + shown(projFile) + " --llm " + shown(dir.resolve("llm.gguf"))
                + " --several-images yes (about a minute); measured: benchmarks/results/organism/.");
        return 0;
    }

    /** A path as the user would type it: relative to the working folder when it lies below it. */
    private static Path shown(Path p) {
        Path cwd = Path.of("").toAbsolutePath();
        Path abs = p.toAbsolutePath().normalize();
        return abs.startsWith(cwd) ? cwd.relativize(abs) : p;
    }

    private static String patched(Session session, Prompt query, String point, float[] vector, boolean add,
                                  GenerationParams gp) {
        Hooks hooks = add ? Hooks.create().add(point, IclPrompts.patchPosition(), vector, 1f)
                : Hooks.create().replace(point, IclPrompts.patchPosition(), vector);
        return HookedRun.generate(session, query, gp, hooks).generation().text();
    }

    private static int layerOf(JsonNode manifest, String table, Path manifestFile) {
        JsonNode chosen = manifest.path(table).path("chosen_layer");
        if (!chosen.isInt()) {
            throw new InvalidInputException(manifestFile + " lacks " + table + ".chosen_layer (the layer xpatch's "
                    + "sweep chose)");
        }
        return chosen.asInt();
    }

    private void show(String label, String generated, String expected) {
        String answer = generated.strip().split("\n", 2)[0];
        boolean ok = Correctness.correct(answer, expected, true);
        shown++;
        asExpected += ok ? 1 : 0;
        out.printf("   %s: \"%s\"   (expected %s: %s)%n", label, answer, expected, ok ? "yes" : "NO");
    }

    private static TaskItem find(TaskData task, String input) {
        for (List<TaskItem> split : List.of(task.val(), task.test())) {
            for (TaskItem it : split) {
                if (it.input().equals(input)) {
                    return it;
                }
            }
        }
        throw new IllegalStateException(task.name() + " has no item " + input);
    }
}
