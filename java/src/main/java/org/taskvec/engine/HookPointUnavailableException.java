package org.taskvec.engine;

/**
 * A hook on a point that this model's graph does not have (e.g. a point of another architecture); the message names
 * the points the model does offer. Raised before anything is evaluated.
 */
public class HookPointUnavailableException extends InvalidInputException {
    private static final long serialVersionUID = 1L;

    public HookPointUnavailableException(String message) {
        super(message);
    }
}
