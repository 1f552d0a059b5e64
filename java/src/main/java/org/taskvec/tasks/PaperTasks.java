package org.taskvec.tasks;

import java.util.List;
import java.util.Map;

/** The six tasks of "Task Vectors are Cross-Modal" and their exact instruction strings (configs/base.yaml). */
public final class PaperTasks {
    public static final List<String> NAMES = List.of("country-capital", "country-currency", "animal-latin",
            "animal-young", "food-color", "food-flavor");

    public static final Map<String, String> INSTRUCTIONS = Map.of(
            "country-capital", "The capital city of the country:",
            "country-currency", "The last word of the official currency of the country:",
            "animal-latin", "The scientific name of the animal's species in latin:",
            "animal-young", "The term for the baby of the animal:",
            "food-color", "The color of the food:",
            "food-flavor", "The flavor descriptor of the food:");

    private PaperTasks() {}

    /** The instruction of a paper task; for a user's own task, the instruction it was given. */
    public static String instruction(String task) {
        String s = INSTRUCTIONS.get(task);
        if (s == null) {
            throw new IllegalArgumentException("no instruction known for task '" + task + "'; paper tasks: " + NAMES);
        }
        return s;
    }
}
