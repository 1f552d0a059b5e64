package org.taskvec.hooks;

/** What a hook does at its positions. */
public enum HookOp {
    /** copy the rows out */
    CAPTURE,
    /** overwrite the rows with given vectors */
    REPLACE,
    /** add scale times given vectors */
    ADD,
    /** overwrite the rows with zeros */
    ZERO,
    /** overwrite the rows with a mean vector (given, or the mean over all positions of the same prompt) */
    MEAN_ABLATE
}
