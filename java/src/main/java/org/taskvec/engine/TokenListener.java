package org.taskvec.engine;

/**
 * Receives generated tokens as they come. Returning false stops generation.
 *
 * <p>The listener runs on the generating thread, between two decode steps. It may read its session ({@link
 * Session#logits()}: the distribution of the next token; {@link Session#positions()}, {@link Session#tokens()},
 * {@link Session#layout(Prompt)}, {@link Session#hookRows(int)}) and use the model; calls that change the session
 * throw {@link ReentrantSessionUseException}. It may close the session (or the model): generation stops at this
 * token with {@link Generation.StopReason#CLOSED}, and the session is freed when the generation call returns.
 */
@FunctionalInterface
public interface TokenListener {
    /**
     * @param token the token id (on a final call after an end-of-generation token: that token)
     * @param text new text since the previous call; may be empty while a multi-byte character is incomplete or
     *     while text is held back because it could be the start of a stop string. The concatenation of all
     *     calls' text equals {@link Generation#text()}.
     */
    boolean onToken(int token, String text);
}
