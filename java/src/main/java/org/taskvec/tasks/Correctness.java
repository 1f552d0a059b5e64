package org.taskvec.tasks;

/**
 * The paper's metric: a prediction is correct if prediction and label, both stripped, are non-empty and one is a
 * prefix of the other; case-sensitive unless asked otherwise.
 */
public final class Correctness {
    private Correctness() {}

    public static boolean correct(String prediction, String label, boolean caseSensitive) {
        String p = prediction == null ? "" : prediction.strip();
        String l = label == null ? "" : label.strip();
        if (p.isEmpty() || l.isEmpty()) {
            return false;
        }
        if (!caseSensitive) {
            p = p.toLowerCase(java.util.Locale.ROOT);
            l = l.toLowerCase(java.util.Locale.ROOT);
        }
        return p.startsWith(l) || l.startsWith(p);
    }
}
