/**
 * Layer 2: the inference engine. {@link org.taskvec.engine.Model} (shareable between threads),
 * {@link org.taskvec.engine.Session} (one thread at a time), {@link org.taskvec.engine.Prompt} of text and
 * {@link org.taskvec.engine.Image}s, generation and logits. Input is validated here before it reaches native code;
 * failures are typed exceptions under {@link org.taskvec.engine.TaskvecException}.
 */
package org.taskvec.engine;
