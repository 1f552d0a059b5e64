package org.taskvec.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.taskvec.engine.InvalidInputException;

/**
 * Loads tasks: the built-in data (entities with an emoji image, in fixed val/test splits, shipped in the jar) or a
 * folder in the paper's format ({@code annotations/{task}_{val,test}.json} with records {@code input}, {@code output},
 * {@code image}, and the images they name), which is also the format for a user's own tasks.
 */
public final class TaskLoader {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TaskLoader() {}

    /** A built-in task, its images in {@link BuiltinImages#root()}. */
    public static TaskData builtin(String task) {
        List<TaskItem> val = new ArrayList<>();
        List<TaskItem> test = new ArrayList<>();
        for (String[] f : readBuiltin(task)) {
            (f[0].equals("val") ? val : test).add(new TaskItem(f[1], f[2], f[3]));
        }
        return new TaskData(task, PaperTasks.instruction(task), val, test, BuiltinImages.root(),
                "built-in (entities with an emoji image from emoji-datasource-google 16.0.0)");
    }

    /** All items of a built-in task, both splits, without touching images. */
    static List<TaskItem> builtinItems(String task) {
        List<TaskItem> out = new ArrayList<>();
        for (String[] f : readBuiltin(task)) {
            out.add(new TaskItem(f[1], f[2], f[3]));
        }
        return out;
    }

    private static List<String[]> readBuiltin(String task) {
        String resource = "builtin/" + task + ".tsv";
        try (InputStream in = TaskLoader.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new InvalidInputException("no built-in task '" + task + "'; built-in tasks: " + PaperTasks.NAMES);
            }
            List<String[]> rows = new ArrayList<>();
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            String header = r.readLine();
            if (!"split\tinput\toutput\timage".equals(header)) {
                throw new IllegalStateException("built-in task file " + resource + " has header " + header);
            }
            String line;
            while ((line = r.readLine()) != null) {
                if (line.isBlank()) {
                    continue;
                }
                String[] f = line.split("\t", -1);
                if (f.length != 4 || !(f[0].equals("val") || f[0].equals("test"))) {
                    throw new IllegalStateException("malformed line in " + resource + ": " + line);
                }
                rows.add(f);
            }
            return rows;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A task in the paper's format under dir, laid out as the official {@code download_data.sh} leaves it:
     * {@code dir/annotations/{task}_val.json} and {@code _test.json}, each a JSON array of {@code {input, output,
     * image}} records or an object {@code {"data": [...]}} (as the official loader accepts); an image path is
     * relative to dir (the official convention, {@code images/...}) or else to {@code dir/images}. Every image a
     * record names is found at load time; one that is in neither place is a {@link MissingImageException} naming the
     * paths tried. The instruction is the paper's for its tasks, else the text of
     * {@code dir/annotations/{task}_instruction.txt}.
     */
    public static TaskData paperFormat(Path dir, String task) {
        Path ann = dir.resolve("annotations");
        Path valFile = ann.resolve(task + "_val.json");
        Path testFile = ann.resolve(task + "_test.json");
        if (!Files.isRegularFile(valFile) || !Files.isRegularFile(testFile)) {
            throw new InvalidInputException("task '" + task + "' needs " + valFile + " and " + testFile);
        }
        String instruction;
        if (PaperTasks.INSTRUCTIONS.containsKey(task)) {
            instruction = PaperTasks.instruction(task);
        } else {
            Path inst = ann.resolve(task + "_instruction.txt");
            try {
                instruction = Files.isRegularFile(inst) ? Files.readString(inst).strip() : task + ":";
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return new TaskData(task, instruction, readRecords(valFile, dir), readRecords(testFile, dir), dir,
                "paper format at " + dir);
    }

    /** The records of one annotation file, each image path made relative to dir (where it was found). */
    private static List<TaskItem> readRecords(Path file, Path dir) {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new InvalidInputException("cannot read " + file + ": " + e.getMessage());
        }
        if (root != null && root.isObject() && root.has("data")) {
            root = root.get("data");
        }
        if (root == null || !root.isArray()) {
            throw new InvalidInputException(file + " must hold a JSON array of {input, output, image} records, "
                    + "or an object {\"data\": [...]} of them");
        }
        List<TaskItem> out = new ArrayList<>();
        for (JsonNode n : root) {
            JsonNode in = n.get("input");
            JsonNode o = n.get("output");
            if (in == null || o == null || !in.isValueNode() || !o.isValueNode()) {
                throw new InvalidInputException(file + ": a record lacks input or output: " + n);
            }
            JsonNode img = n.get("image");
            String image = img == null || img.isNull() ? null : img.asText();
            out.add(new TaskItem(in.asText(), o.asText(), image == null ? null : locate(file, dir, image)));
        }
        return out;
    }

    /** An image path relative to dir: as named (the official layout), else under dir/images. */
    private static String locate(Path file, Path dir, String image) {
        List<Path> tried = List.of(dir.resolve(image), dir.resolve("images").resolve(image));
        if (Files.isRegularFile(tried.get(0))) {
            return image;
        }
        if (Files.isRegularFile(tried.get(1))) {
            return Path.of("images").resolve(image).toString();
        }
        throw new MissingImageException(file.toString(), image, tried);
    }
}
