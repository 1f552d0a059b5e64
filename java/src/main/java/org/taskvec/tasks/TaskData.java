package org.taskvec.tasks;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * A task as the paper defines it: a name, the instruction string that specifies it in words, a validation split
 * (where task vectors are extracted) and a test split (where they are evaluated), and the folder the items' images
 * are in.
 */
public record TaskData(String name, String instruction, List<TaskItem> val, List<TaskItem> test, Path imageRoot,
                       String source) {
    public TaskData {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(instruction, "instruction");
        val = List.copyOf(val);
        test = List.copyOf(test);
    }

    /** The image file of an item (requires an image root and an item with an image). */
    public Path imageOf(TaskItem item) {
        if (imageRoot == null || item.image() == null) {
            throw new IllegalStateException("task " + name + " has no image for '" + item.input() + "'");
        }
        return imageRoot.resolve(item.image());
    }
}
