package org.taskvec.engine;

import java.util.Locale;
import org.taskvec.nativeapi.TaskvecNative;

/**
 * The kinds of points a hook reads or writes, named after TransformerLens. Which llama.cpp graph node holds each
 * depends on the architecture ({@link Session#pointNode}); {@code org.taskvec.hooks.HookPoint} adds the block.
 */
public enum PointKind {
    /**
     * the residual stream entering block L: what block L-1 passed on (its resid_post, or after Qwen3-VL's deepstack
     * injection); block 0's where the graph has the embeddings as a node (llama's embd for text rows, Gemma's
     * inp_scaled)
     */
    RESID_PRE("resid_pre", TaskvecNative.TV_POINT_RESID_PRE, true),
    /** the residual stream between block L's attention and its MLP (llama.cpp's ffn_inp-L, Gemma's sa_out-L) */
    RESID_MID("resid_mid", TaskvecNative.TV_POINT_RESID_MID, true),
    /** the residual stream after block L (l_out-L) */
    RESID_POST("resid_post", TaskvecNative.TV_POINT_RESID_POST, true),
    /** what block L's attention adds to the residual stream (after wo, and Gemma's post-attention norm) */
    ATTN_OUT("attn_out", TaskvecNative.TV_POINT_ATTN_OUT, true),
    /** what block L's MLP adds to the residual stream (after Gemma's post-FFN norm) */
    MLP_OUT("mlp_out", TaskvecNative.TV_POINT_MLP_OUT, true),
    /** per-head attention output of block L before wo, heads concatenated (kqv_out-L) */
    ATTN_Z("attn_z", TaskvecNative.TV_POINT_ATTN_Z, true),
    /** the final normalised state (result_norm) */
    FINAL_NORM("final_norm", TaskvecNative.TV_POINT_FINAL_NORM, false);

    /** TransformerLens' name without "hook_", e.g. "resid_post" */
    public final String shortName;
    final int code;
    /** whether the point exists once per block */
    public final boolean perLayer;

    PointKind(String shortName, int code, boolean perLayer) {
        this.shortName = shortName;
        this.code = code;
        this.perLayer = perLayer;
    }

    /** Parses a kind's name ({@code resid_post}, or TransformerLens' {@code hook_resid_post}). */
    public static PointKind parse(String s) {
        String k = s.toLowerCase(Locale.ROOT).replace("hook_", "");
        for (PointKind kind : values()) {
            if (kind.shortName.equals(k)) {
                return kind;
            }
        }
        throw new InvalidInputException("unknown hook point kind '" + s + "'; valid: resid_pre, resid_mid, "
                + "resid_post, attn_out, mlp_out, attn_z, final_norm");
    }
}
