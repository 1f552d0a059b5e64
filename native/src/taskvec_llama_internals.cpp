// The one place that reaches into llama.cpp's internal headers (pinned release; revisit when the pin moves).
//
// llama.cpp fixes the graph callback (cb_eval) when a context is created and offers no setter. A session that
// carries a callback pays for it on every step (about 5% of GPU decode speed, measured), so taskvec creates
// contexts without one and installs it only for the evaluations that have hooks: in the context's parameters,
// which llama.cpp hands to the scheduler whenever it rebuilds a graph, and in the scheduler itself, for graphs
// that llama.cpp reuses.
#include "taskvec_internal.h"

#include "ggml-backend.h"
#include "llama-context.h"
#include "llama-model.h"

namespace tv {

void set_eval_callback(llama_context * ctx, bool (*cb)(struct ggml_tensor *, bool, void *), void * user_data) {
    auto & cparams = const_cast<llama_cparams &>(ctx->get_cparams());
    cparams.cb_eval = cb;
    cparams.cb_eval_user_data = user_data;
    ggml_backend_sched_set_eval_callback(ctx->get_sched(), cb, user_data);
}

std::vector<ggml_backend_dev_t> model_devices(const llama_model * model) {
    std::vector<ggml_backend_dev_t> out;
    for (const llama_device & d : model->devices) {
        out.push_back(d.dev);
    }
    return out;
}

ggml_backend_dev_t model_layer_device(const llama_model * model, int32_t il) { return model->dev_layer(il); }

}  // namespace tv
