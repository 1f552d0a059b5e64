package org.taskvec.engine;

/**
 * A call into a session from its own thread while that thread is already inside the session: typically a
 * {@link TokenListener} that calls back into the session generating for it. A listener may read the session
 * ({@link Session#logits()}, {@link Session#positions()}, {@link Session#tokens()}, {@link Session#layout(Prompt)},
 * {@link Session#hookRows(int)}) and may close it; calls that would change it in the middle of the generation
 * (evaluate, append, truncate, generate, step, hooks) get this exception. Not a {@link
 * ConcurrentSessionUseException}: no second thread is involved.
 */
public class ReentrantSessionUseException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public ReentrantSessionUseException(String message) {
        super(message);
    }

    public ReentrantSessionUseException(String message, Throwable cause) {
        super(message, cause);
    }
}
