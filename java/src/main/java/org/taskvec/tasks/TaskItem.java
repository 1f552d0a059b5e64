package org.taskvec.tasks;

import java.util.Objects;

/**
 * One item of a task: the text input (e.g. "Greece"), the expected output (e.g. "Athens") and the image that shows
 * the input (a file name relative to the task's image folder; may be null for text-only tasks).
 */
public record TaskItem(String input, String output, String image) {
    public TaskItem {
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(output, "output");
    }
}
