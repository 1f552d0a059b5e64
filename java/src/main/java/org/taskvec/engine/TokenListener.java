package org.taskvec.engine;

/** Receives generated tokens as they come. Returning false stops generation. */
@FunctionalInterface
public interface TokenListener {
    /**
     * @param token the token id
     * @param text the text this token completes (may be empty while a multi-byte character is incomplete)
     */
    boolean onToken(int token, String text);
}
