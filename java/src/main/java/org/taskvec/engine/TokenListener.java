package org.taskvec.engine;

/** Receives generated tokens as they come. Returning false stops generation. */
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
