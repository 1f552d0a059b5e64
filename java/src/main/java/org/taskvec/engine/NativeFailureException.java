package org.taskvec.engine;

/** A native call that failed for a reason other than its input (decode failure, internal error). */
public class NativeFailureException extends TaskvecException {
    private static final long serialVersionUID = 1L;

    public NativeFailureException(String message) {
        super(message);
    }

    public NativeFailureException(String message, Throwable cause) {
        super(message, cause);
    }
}
