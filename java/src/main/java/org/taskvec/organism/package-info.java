/**
 * Training data for the project's model organism (a small VLM trained here, whose in-context learning is real):
 * episodes over the built-in tasks in the paper's prompt format, built by {@link org.taskvec.tasks.IclPrompts} and
 * laid out by the engine ({@link org.taskvec.engine.Session#layout}), so that training tokens equal inference
 * tokens. {@link org.taskvec.organism.EpisodeDataset} describes the files.
 */
package org.taskvec.organism;
