// RPC: ggml's RPC backend, for models larger than one host. A server (tv_rpc_server_run) offers its devices over TCP;
// a model loaded with rpc_servers gets them as offload devices (tv_model_load), and a server lost during a call
// becomes TV_ERR_RPC instead of abort() (cmake/patches/ggml-rpc-errors.patch makes ggml-rpc throw; remote_call marks
// the model lost). The backend is reached through ggml's registry, so builds that load backends at run time work too.
#include "taskvec.h"
#include "taskvec_internal.h"

#include "ggml-backend.h"

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

using tv::fail;

namespace {

using add_server_fn = ggml_backend_reg_t (*)(const char * endpoint);
using start_server_fn = void (*)(const char * endpoint, const char * cache_dir, size_t n_threads, size_t n_devices,
                                 ggml_backend_dev_t * devices);

// The RPC backend's function name, or NULL when this build or its backend folder lacks the backend.
void * rpc_function(const char * name) {
    ggml_backend_reg_t reg = ggml_backend_reg_by_name("RPC");
    return reg == nullptr ? nullptr : ggml_backend_reg_get_proc_address(reg, name);
}

// Checks "host:port" (a non-empty host, a port 1..65535) before ggml-rpc parses it.
bool valid_endpoint(const std::string & e, std::string & why) {
    const size_t colon = e.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        why = "'" + e + "' is not host:port";
        return false;
    }
    const std::string port = e.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) {
        why = "'" + e + "' has no port number after the colon";
        return false;
    }
    const long p = std::strtol(port.c_str(), nullptr, 10);
    if (p < 1 || p > 65535) {
        why = "port " + port + " of '" + e + "' is outside 1..65535";
        return false;
    }
    return true;
}

// The server's registry entry (connecting to it and asking for its devices), or NULL with the failure recorded.
ggml_backend_reg_t add_server(const std::string & endpoint, tv_status & st) {
    std::string why;
    if (!valid_endpoint(endpoint, why)) {
        st = fail(TV_ERR_INVALID_ARG, "RPC server %s", why.c_str());
        return nullptr;
    }
    auto add = (add_server_fn) rpc_function("ggml_backend_rpc_add_server");
    if (add == nullptr) {
        st = fail(TV_ERR_RPC, "this build of the natives has no RPC backend (ggml built without GGML_RPC)");
        return nullptr;
    }
    ggml_backend_reg_t reg = add(endpoint.c_str());  // throws the RPC failure when it cannot connect
    if (reg == nullptr || ggml_backend_reg_dev_count(reg) == 0) {
        st = fail(TV_ERR_RPC, "the RPC server at %s offers no device", endpoint.c_str());
        return nullptr;
    }
    st = TV_OK;
    return reg;
}

}  // namespace

namespace tv {

tv_status add_rpc_devices(const char * servers, std::vector<ggml_backend_dev_t> & devices,
                          std::vector<std::string> & endpoints) {
    std::string list = servers;
    size_t from = 0;
    while (from <= list.size()) {
        size_t comma = list.find(',', from);
        if (comma == std::string::npos) {
            comma = list.size();
        }
        std::string e = list.substr(from, comma - from);
        from = comma + 1;
        if (e.empty()) {
            return fail(TV_ERR_INVALID_ARG, "empty entry in the RPC server list '%s'", servers);
        }
        for (const std::string & seen : endpoints) {
            if (seen == e) {
                return fail(TV_ERR_INVALID_ARG, "RPC server %s is listed twice", e.c_str());
            }
        }
        tv_status st = TV_OK;
        ggml_backend_reg_t reg = add_server(e, st);
        if (reg == nullptr) {
            return st;
        }
        for (size_t i = 0; i < ggml_backend_reg_dev_count(reg); ++i) {
            devices.push_back(ggml_backend_reg_dev_get(reg, i));
        }
        endpoints.push_back(e);
    }
    return TV_OK;
}

bool rpc_server_lost(const std::vector<std::string> & endpoints) {
    for (const std::string & e : endpoints) {
        if (tv_rpc_server_device(e.c_str(), 0, nullptr, nullptr) < 0) {
            return true;
        }
    }
    return false;
}

void mark_rpc_lost(tv_model * model, const char * reason) {
    std::lock_guard<std::mutex> lock(model->rpc_mutex);
    if (!model->rpc_lost.load()) {
        model->rpc_lost_reason = reason;
        model->rpc_lost = true;
    }
}

void check_rpc(tv_model * model) {
    if (!model->rpc_lost.load()) {
        return;
    }
    std::string reason;
    {
        std::lock_guard<std::mutex> lock(model->rpc_mutex);
        reason = model->rpc_lost_reason;
    }
    throw std::runtime_error("ggml-rpc: the model lost an RPC server earlier (" + reason.substr(10) +
                             "); free its sessions and the model, and load it again");
}

}  // namespace tv

extern "C" TV_API tv_status tv_rpc_server_run(const char * endpoint, const char * cache_dir, int32_t n_threads) {
    return tv::guarded([&] {
        if (endpoint == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "endpoint is NULL");
        }
        if (n_threads <= 0) {
            return fail(TV_ERR_INVALID_ARG, "n_threads must be positive, got %d", n_threads);
        }
        std::string why;
        if (!valid_endpoint(endpoint, why)) {
            return fail(TV_ERR_INVALID_ARG, "RPC server endpoint %s", why.c_str());
        }
        auto start = (start_server_fn) rpc_function("ggml_backend_rpc_start_server");
        if (start == nullptr) {
            return fail(TV_ERR_RPC, "this build of the natives has no RPC backend (ggml built without GGML_RPC)");
        }
        // like llama.cpp's rpc-server: this process's GPUs, else its CPU
        std::vector<ggml_backend_dev_t> devices;
        for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
            ggml_backend_dev_t d = ggml_backend_dev_get(i);
            if (ggml_backend_dev_type(d) == GGML_BACKEND_DEVICE_TYPE_GPU) {
                devices.push_back(d);
            }
        }
        if (devices.empty()) {
            ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
            if (cpu == nullptr) {
                return fail(TV_ERR_RPC, "no device to offer (no GPU and no CPU backend loaded)");
            }
            devices.push_back(cpu);
        }
        start(endpoint, cache_dir, (size_t) n_threads, devices.size(), devices.data());
        // it returns only when it could not start or stopped accepting
        return fail(TV_ERR_RPC,
                    "the RPC server on %s stopped or could not start (address in use, or not an address of this "
                    "host?); ggml's message is on standard error", endpoint);
    });
}

extern "C" TV_API int32_t tv_rpc_server_device(const char * endpoint, int32_t i, int64_t * free, int64_t * total) {
    int32_t result = -1;
    tv::guarded([&] {
        if (endpoint == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "endpoint is NULL");
        }
        tv_status st = TV_OK;
        ggml_backend_reg_t reg = add_server(endpoint, st);
        if (reg == nullptr) {
            return st;
        }
        const int32_t n = (int32_t) ggml_backend_reg_dev_count(reg);
        if (i >= 0 && i < n) {
            size_t f = 0, t = 0;
            ggml_backend_dev_memory(ggml_backend_reg_dev_get(reg, (size_t) i), &f, &t);
            if (free != nullptr) {
                *free = (int64_t) f;
            }
            if (total != nullptr) {
                *total = (int64_t) t;
            }
        }
        result = n;
        return TV_OK;
    });
    return result;
}
