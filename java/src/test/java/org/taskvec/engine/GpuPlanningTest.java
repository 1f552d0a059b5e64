package org.taskvec.engine;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;
import org.taskvec.TestModels;
import org.taskvec.gguf.GgufFile;

class GpuPlanningTest {
    static final long GIB = 1L << 30;

    @Test
    void offloadPlansCountLayersKvCacheAndReserve() {
        GgufFile tiny = Model.checkModelFile(TestModels.tinyModel());
        // tiny: 4 layers of 64x64 and 64x128 F32 matrices; everything fits on any real card
        OffloadPlanner.Plan all = OffloadPlanner.plan(tiny, 0, 2048, 2, 20 * GIB, 24 * GIB);
        assertEquals(-1, all.gpuLayers(), all.reason());
        assertEquals(4, all.modelLayers());
        long perLayer = all.perLayerBytes();
        // blk.N: 2 norms (64) + q,o (64x64) + k,v (64x32) + gate,up,down (64x128) floats
        assertEquals(4L * (2 * 64 + 2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 128), perLayer);
        // only the reserve is free: nothing offloaded
        OffloadPlanner.Plan none = OffloadPlanner.plan(tiny, 0, 2048, 2, OffloadPlanner.reserve(8 * GIB), 8 * GIB);
        assertEquals(0, none.gpuLayers(), none.reason());
        // room for exactly two layers with their KV cache, but not for the embeddings and output matrix
        long kvPerLayer = 2L * 2048 * 32 * 2;
        long free = OffloadPlanner.reserve(8 * GIB) + 2 * (perLayer + kvPerLayer) + 10;
        OffloadPlanner.Plan two = OffloadPlanner.plan(tiny, 0, 2048, 2, free, 8 * GIB);
        assertEquals(2, two.gpuLayers(), two.reason());
        // a projector takes its share first
        OffloadPlanner.Plan withProjector = OffloadPlanner.plan(tiny, perLayer + kvPerLayer, 2048, 2, free, 8 * GIB);
        assertEquals(1, withProjector.gpuLayers(), withProjector.reason());
        assertEquals(12, OffloadPlanner.layerOf("blk.12.attn_q.weight"));
        assertEquals(-1, OffloadPlanner.layerOf("output.weight"));
    }

    @Test
    void withoutCudaDiscoveryIsEmptyAndAutoMeansCpu() {
        // these machines have no CUDA runtime: absence is normal, never an error
        assertTrue(GpuDevices.list().isEmpty() || !GpuDevices.list().get(0).name().isEmpty());
        if (GpuDevices.list().isEmpty()) {
            assertFalse(GpuDevices.unavailableReason().isEmpty());
        }
        GpuLayers.Choice c = GpuLayers.resolve("auto", TestModels.tinyModel(), null, 2048);
        if (!NativeLibrary.gpuOffloadSupported()) {
            assertEquals(0, c.layers(), c.why());
            assertTrue(c.why().startsWith("CPU"), c.why());
        }
        assertEquals(-1, GpuLayers.resolve("-1", TestModels.tinyModel(), null, 2048).layers());
        assertThrows(InvalidInputException.class, () -> GpuLayers.resolve("many", TestModels.tinyModel(), null, 2048));
    }
}
