package org.taskvec.xpatch;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * PNG figures of a run (JFreeChart, headless). A Java runtime that cannot draw text (its font library or the
 * libraries that library needs are missing, e.g. a jlink'ed runtime on a bare machine: libharfbuzz.so.0) makes
 * every method throw {@link UnavailableException}: the caller reports it, and the run's numbers are not lost.
 */
final class Charts {
    static {
        System.setProperty("java.awt.headless", "true");
    }

    private Charts() {}

    /** Figures cannot be drawn in this Java runtime; the message says why. */
    static final class UnavailableException extends IOException {
        UnavailableException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** For tests: set, drawing fails with this message as in a runtime without its font libraries. */
    static final String SIMULATE_FAILURE = "taskvec.test.chartsUnavailable";

    /** Builds and saves one chart; the runtime's failures to draw become {@link UnavailableException}. */
    private static void save(Path png, java.util.function.Supplier<JFreeChart> chart, int width, int height)
            throws IOException {
        try {
            String simulated = System.getProperty(SIMULATE_FAILURE);
            if (simulated != null) {
                throw new UnsatisfiedLinkError(simulated);
            }
            ChartUtils.saveChartAsPNG(png.toFile(), chart.get(), width, height);
        } catch (LinkageError | java.awt.AWTError | InternalError e) {
            throw unavailable(e);
        } catch (RuntimeException e) {
            // font configuration failures surface as runtime exceptions from the JDK's font code
            if (java.util.Arrays.stream(e.getStackTrace()).anyMatch(el -> el.getClassName().startsWith("sun.font.")
                    || el.getClassName().startsWith("sun.awt.") || el.getClassName().startsWith("java.awt."))) {
                throw unavailable(e);
            }
            throw e;
        }
    }

    private static UnavailableException unavailable(Throwable e) {
        return new UnavailableException("this Java runtime cannot draw charts (" + e.getClass().getSimpleName() + ": "
                + e.getMessage() + ")", e);
    }

    /** One line per named series over layers, e.g. accuracy per layer or a token's probability per layer. */
    static void lines(Path png, String title, String yLabel, Map<String, double[]> series, double yMax)
            throws IOException {
        save(png, () -> linesChart(title, yLabel, series, yMax), 900, 540);
    }

    private static JFreeChart linesChart(String title, String yLabel, Map<String, double[]> series, double yMax) {
        XYSeriesCollection data = new XYSeriesCollection();
        for (Map.Entry<String, double[]> e : series.entrySet()) {
            XYSeries s = new XYSeries(e.getKey());
            for (int l = 0; l < e.getValue().length; l++) {
                s.add(l, e.getValue()[l]);
            }
            data.addSeries(s);
        }
        JFreeChart chart = ChartFactory.createXYLineChart(title, "layer", yLabel, data, PlotOrientation.VERTICAL,
                true, false, false);
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        if (yMax > 0) {
            plot.getRangeAxis().setRange(0, yMax);
        }
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, true);
        for (int i = 0; i < series.size(); i++) {
            r.setSeriesStroke(i, new BasicStroke(2f));
        }
        plot.setRenderer(r);
        return chart;
    }

    /** A scatter of 2-D points, one series per group (e.g. per task), for the geometry figure. */
    static void scatter(Path png, String title, Map<String, List<double[]>> groups) throws IOException {
        save(png, () -> scatterChart(title, groups), 800, 640);
    }

    private static JFreeChart scatterChart(String title, Map<String, List<double[]>> groups) {
        XYSeriesCollection data = new XYSeriesCollection();
        for (Map.Entry<String, List<double[]>> e : groups.entrySet()) {
            XYSeries s = new XYSeries(e.getKey(), false);
            for (double[] p : e.getValue()) {
                s.add(p[0], p[1]);
            }
            data.addSeries(s);
        }
        JFreeChart chart = ChartFactory.createScatterPlot(title, "PC 1", "PC 2", data, PlotOrientation.VERTICAL,
                true, false, false);
        chart.getXYPlot().setBackgroundPaint(Color.WHITE);
        return chart;
    }

    /** The sample-efficiency figure: accuracy against the number of examples, with and without the instruction. */
    static void scan(Path png, Map<Integer, double[]> scan) throws IOException {
        save(png, () -> scanChart(scan), 800, 500);
    }

    private static JFreeChart scanChart(Map<Integer, double[]> scan) {
        XYSeries examples = new XYSeries("examples only");
        XYSeries ensemble = new XYSeries("examples + instruction");
        scan.forEach((n, acc) -> {
            if (!Double.isNaN(acc[0])) {
                examples.add((double) n, acc[0]);
            }
            ensemble.add((double) n, acc[1]);
        });
        XYSeriesCollection data = new XYSeriesCollection();
        data.addSeries(examples);
        data.addSeries(ensemble);
        JFreeChart chart = ChartFactory.createXYLineChart("Sample efficiency", "examples n", "accuracy", data,
                PlotOrientation.VERTICAL, true, false, false);
        chart.getXYPlot().setBackgroundPaint(Color.WHITE);
        chart.getXYPlot().getRangeAxis().setRange(0, 1);
        return chart;
    }
}
