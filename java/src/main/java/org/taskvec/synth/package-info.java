/**
 * Generated random-weight models with real shapes and the LLaMA SentencePiece vocabulary, for tests and
 * benchmarks without downloads.
 */
package org.taskvec.synth;
