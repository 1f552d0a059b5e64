package org.taskvec.hooks;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.nativeapi.TaskvecNative;

/**
 * A named point of the model where a hook reads or writes, after TransformerLens: {@code blocks.L.resid_post}
 * (residual stream after block L; llama.cpp's {@code l_out-L}), {@code blocks.L.resid_mid} (between the attention
 * and the MLP; {@code ffn_inp-L}), {@code blocks.L.resid_pre} (entering block L, L >= 1: block L-1's output), {@code blocks.L.attn_out} (attention output after
 * the output projection), {@code blocks.L.mlp_out} (feed-forward output), {@code blocks.L.attn_z} (per-head
 * attention output before the output projection, heads concatenated), {@code final_norm} (the final normalised
 * state). TransformerLens spellings are accepted too ({@code blocks.L.hook_resid_post}, {@code blocks.L.attn.hook_z},
 * {@code ln_final.hook_normalized}).
 */
public record HookPoint(Kind kind, int layer) {
    /** The kinds of hook points. */
    public enum Kind {
        /**
         * the residual stream entering block L: what block L-1 passed on (its resid_post, or after Qwen3-VL's
         * deepstack injection); block 0's only where the graph has the embeddings as a node (Gemma's inp_scaled)
         */
        RESID_PRE("resid_pre", TaskvecNative.TV_POINT_RESID_PRE, true),
        /** the residual stream between block L's attention and its MLP (llama.cpp's ffn_inp-L) */
        RESID_MID("resid_mid", TaskvecNative.TV_POINT_RESID_MID, true),
        RESID_POST("resid_post", TaskvecNative.TV_POINT_RESID_POST, true),
        ATTN_OUT("attn_out", TaskvecNative.TV_POINT_ATTN_OUT, true),
        MLP_OUT("mlp_out", TaskvecNative.TV_POINT_MLP_OUT, true),
        ATTN_Z("attn_z", TaskvecNative.TV_POINT_ATTN_Z, true),
        FINAL_NORM("final_norm", TaskvecNative.TV_POINT_FINAL_NORM, false);

        public final String shortName;
        final int code;
        public final boolean perLayer;

        Kind(String shortName, int code, boolean perLayer) {
            this.shortName = shortName;
            this.code = code;
            this.perLayer = perLayer;
        }

        public static Kind parse(String s) {
            String k = s.toLowerCase(Locale.ROOT).replace("hook_", "");
            for (Kind kind : values()) {
                if (kind.shortName.equals(k)) {
                    return kind;
                }
            }
            throw new InvalidInputException("unknown hook point kind '" + s + "'; valid: resid_pre, resid_mid, "
                    + "resid_post, attn_out, mlp_out, attn_z, final_norm");
        }
    }

    private static final Pattern BLOCK = Pattern.compile("blocks\\.(-?\\d+)\\.(?:attn\\.hook_z|(?:hook_)?(\\w+))");

    public static HookPoint residPost(int layer) {
        return new HookPoint(Kind.RESID_POST, layer);
    }

    /** Parses a hook point name and checks it against a model with nLayer blocks. */
    public static HookPoint parse(String name, int nLayer) {
        String n = name.trim();
        if (n.equals("final_norm") || n.equals("ln_final.hook_normalized")) {
            return new HookPoint(Kind.FINAL_NORM, -1);
        }
        Matcher m = BLOCK.matcher(n);
        if (!m.matches()) {
            throw new InvalidInputException("unknown hook point '" + name + "'; valid: " + validNames(nLayer));
        }
        int layer = Integer.parseInt(m.group(1));
        Kind kind;
        if (m.group(2) == null) {
            kind = Kind.ATTN_Z;
        } else {
            try {
                kind = Kind.parse(m.group(2));
            } catch (InvalidInputException e) {
                throw new InvalidInputException("unknown hook point '" + name + "'; valid: " + validNames(nLayer));
            }
            if (!kind.perLayer) {
                throw new InvalidInputException("'" + kind.shortName + "' has no layer; valid: " + validNames(nLayer));
            }
        }
        HookPoint p = new HookPoint(kind, layer);
        p.check(nLayer);
        return p;
    }

    /** The valid names for a model with nLayer blocks, summarised. */
    public static String validNames(int nLayer) {
        return "blocks.{0.." + (nLayer - 1) + "}.{resid_post, resid_mid, attn_out, mlp_out, attn_z}, "
                + "blocks.{1.." + (nLayer - 1) + "}.resid_pre (block 0's on some architectures), final_norm";
    }

    /** Throws when the layer does not exist in a model with nLayer blocks. */
    public void check(int nLayer) {
        if (kind.perLayer && (layer < 0 || layer >= nLayer)) {
            throw new InvalidInputException("layer " + layer + " is out of range for " + name() + ": the model has "
                    + nLayer + " blocks (valid: " + validNames(nLayer) + ")");
        }
    }

    /**
     * The points the model of session offers, in the order of {@link Kind} and block: each one checked against a
     * graph llama.cpp builds for the model, as a hook on it would be. Architectures differ (e.g. block 0's
     * resid_pre exists where the graph scales the embeddings, as Gemma's does).
     */
    public static java.util.List<HookPoint> offered(org.taskvec.engine.Session session, int nLayer) {
        java.util.List<HookPoint> out = new java.util.ArrayList<>();
        for (Kind k : Kind.values()) {
            for (int l = 0; l < (k.perLayer ? nLayer : 1); l++) {
                HookPoint p = new HookPoint(k, k.perLayer ? l : -1);
                if (session.pointNode(p.code(), p.nativeLayer()).isPresent()) {
                    out.add(p);
                }
            }
        }
        return out;
    }

    /** The llama.cpp node that holds this point on session's model (see {@link org.taskvec.engine.Session#pointNode}), if any. */
    public java.util.Optional<String> node(org.taskvec.engine.Session session) {
        return session.pointNode(code(), nativeLayer());
    }

    /** The canonical name, e.g. {@code blocks.12.resid_post}. */
    public String name() {
        return kind.perLayer ? "blocks." + layer + "." + kind.shortName : kind.shortName;
    }

    int code() {
        return kind.code;
    }

    /** The block the native layer is told (0 for points without one). */
    int nativeLayer() {
        return Math.max(0, layer);
    }

    @Override
    public String toString() {
        return name();
    }
}
