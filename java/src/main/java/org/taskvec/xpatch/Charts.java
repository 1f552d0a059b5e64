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

/** PNG figures of a run (JFreeChart, headless). */
final class Charts {
    static {
        System.setProperty("java.awt.headless", "true");
    }

    private Charts() {}

    /** One line per named series over layers, e.g. accuracy per layer or a token's probability per layer. */
    static void lines(Path png, String title, String yLabel, Map<String, double[]> series, double yMax)
            throws IOException {
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
        ChartUtils.saveChartAsPNG(png.toFile(), chart, 900, 540);
    }

    /** A scatter of 2-D points, one series per group (e.g. per task), for the geometry figure. */
    static void scatter(Path png, String title, Map<String, List<double[]>> groups) throws IOException {
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
        ChartUtils.saveChartAsPNG(png.toFile(), chart, 800, 640);
    }

    /** The sample-efficiency figure: accuracy against the number of examples, with and without the instruction. */
    static void scan(Path png, Map<Integer, double[]> scan) throws IOException {
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
        ChartUtils.saveChartAsPNG(png.toFile(), chart, 800, 500);
    }
}
