package org.taskvec.engine;

/** A model, session or prompt used after it was closed. */
public class ClosedHandleException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public ClosedHandleException(String message) {
        super(message);
    }

    public ClosedHandleException(String message, Throwable cause) {
        super(message, cause);
    }
}
