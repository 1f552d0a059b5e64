package org.taskvec.engine;

/** A prompt or a generation that does not fit into the session's context. */
public class ContextOverflowException extends TaskvecException {
    private static final long serialVersionUID = 1L;

    public ContextOverflowException(String message) {
        super(message);
    }

    public ContextOverflowException(String message, Throwable cause) {
        super(message, cause);
    }
}
