package org.taskvec.engine;

/** Base of the exceptions taskvec throws for bad input and failed native calls. Unchecked. */
public class TaskvecException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public TaskvecException(String message) {
        super(message);
    }

    public TaskvecException(String message, Throwable cause) {
        super(message, cause);
    }
}
