/**
 * Generated random-weight models with real shapes and real vocabularies, for tests and benchmarks without
 * downloads: LLaVA-1.5 (llama, LLaMA SentencePiece vocabulary) and tiny Qwen2.5-VL, Gemma 3, SmolVLM and Qwen3-VL
 * models ({@link org.taskvec.synth.Family}).
 */
package org.taskvec.synth;
