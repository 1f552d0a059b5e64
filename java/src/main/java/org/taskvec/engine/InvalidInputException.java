package org.taskvec.engine;

/** An argument out of range (a token id, a buffer length, a parameter) found before or by native code. */
public class InvalidInputException extends TaskvecException {
    private static final long serialVersionUID = 1L;

    public InvalidInputException(String message) {
        super(message);
    }

    public InvalidInputException(String message, Throwable cause) {
        super(message, cause);
    }
}
