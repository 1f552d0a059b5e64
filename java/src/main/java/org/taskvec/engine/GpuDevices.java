package org.taskvec.engine;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.SizeTPointer;
import org.bytedeco.cuda.cudart.cudaDeviceProp;
import org.bytedeco.cuda.global.cudart;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * NVIDIA GPUs as the CUDA runtime sees them (through JavaCPP's CUDA presets; the runtime library and the driver
 * come from the system). Absence of CUDA is normal: {@link #list()} is then empty and {@link #unavailableReason()}
 * says why. Never throws.
 */
public final class GpuDevices {
    private static final Logger LOG = LoggerFactory.getLogger(GpuDevices.class);
    private static volatile List<GpuDevice> cached;
    private static volatile String reason = "";

    /** One GPU: index, name, compute capability, free and total memory in bytes. */
    public record GpuDevice(int index, String name, int major, int minor, long freeBytes, long totalBytes) {
        public String computeCapability() {
            return major + "." + minor;
        }
    }

    private GpuDevices() {}

    /** The GPUs present (empty without a CUDA runtime, driver or device). */
    public static synchronized List<GpuDevice> list() {
        if (cached != null) {
            return cached;
        }
        List<GpuDevice> out = new ArrayList<>();
        try {
            CacheFolder.configureJavaCpp();
            Loader.load(cudart.class);
            int[] count = new int[1];
            int err = cudart.cudaGetDeviceCount(count);
            if (err != cudart.cudaSuccess) {
                reason = "CUDA runtime found, but cudaGetDeviceCount failed: " + errorString(err);
            } else if (count[0] == 0) {
                reason = "CUDA runtime found, no GPU";
            }
            for (int i = 0; i < count[0] && err == cudart.cudaSuccess; i++) {
                try (cudaDeviceProp prop = new cudaDeviceProp(); SizeTPointer free = new SizeTPointer(1);
                     SizeTPointer total = new SizeTPointer(1)) {
                    cudart.cudaGetDeviceProperties(prop, i);
                    cudart.cudaSetDevice(i);
                    cudart.cudaMemGetInfo(free, total);
                    out.add(new GpuDevice(i, prop.name().getString(), prop.major(), prop.minor(), free.get(),
                            total.get()));
                }
            }
        } catch (UnsatisfiedLinkError e) { // the normal case on machines without CUDA
            reason = "no CUDA runtime library (libcudart) or driver on this machine";
            LOG.debug("GPU discovery: {}", firstLine(e.getMessage()));
        } catch (Throwable t) {
            reason = "CUDA discovery failed: " + t.getClass().getSimpleName() + ": " + firstLine(t.getMessage());
            LOG.debug("GPU discovery: {}", reason);
        }
        cached = List.copyOf(out);
        return cached;
    }

    /** Why {@link #list()} is empty ("" when it is not). */
    public static String unavailableReason() {
        list();
        return reason;
    }

    private static String errorString(int err) {
        try {
            BytePointer p = cudart.cudaGetErrorString(err);
            return p == null ? String.valueOf(err) : p.getString();
        } catch (Throwable t) {
            return String.valueOf(err);
        }
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
