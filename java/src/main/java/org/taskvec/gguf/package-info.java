/**
 * GGUF files in Java: a reader that checks a file's structure before llama.cpp sees it, and a writer (models,
 * later task vectors).
 */
package org.taskvec.gguf;
