package org.taskvec.engine;

/**
 * The result of a generation.
 *
 * @param text the generated text (cut before a stop string, if one ended it)
 * @param tokens the generated tokens (including a stop token, excluding an end-of-generation token)
 * @param stopReason why generation ended
 * @param promptPositions positions the prompt occupied
 * @param reusedPositions prompt positions taken from the KV cache instead of evaluated
 */
public record Generation(String text, int[] tokens, StopReason stopReason, int promptPositions, int reusedPositions) {
    /** Why a generation ended. */
    public enum StopReason {
        /** maxTokens were generated. */
        MAX_TOKENS,
        /** the model produced an end-of-generation token (not included in the tokens). */
        END_OF_GENERATION,
        /** a stop token was generated (it is the last token). */
        STOP_TOKEN,
        /** the text reached a stop string (the text is cut before it; the tokens include the one completing it). */
        STOP_STRING,
        /** the token listener asked to stop. */
        CANCELLED,
        /**
         * the session was closed during the generation (by its token listener, or by another thread): generation
         * stopped after the token then being handed out; the session is closed when the call returns.
         */
        CLOSED
    }
}
