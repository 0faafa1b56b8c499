package dev.cascade.router.cli;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.BitmapEncoder.BitmapFormat;
import org.knowm.xchart.internal.chartpart.Chart;

/**
 * Where a command's {@code --plot} goes: the image format follows the file's extension
 * ({@code .png}, {@code .jpg} / {@code .jpeg}, {@code .gif}, {@code .bmp}), and any other
 * extension is refused before the command's work starts, so that {@code curves.svg} does not
 * silently get a PNG under that name.
 */
final class PlotFile {

  static final String FORMATS = ".png, .jpg, .jpeg, .gif or .bmp";

  private PlotFile() {}

  /**
   * Checks {@code file} as a plot's path: a writable file ({@link OutputPaths#checkFile}) whose
   * extension names a format this can draw.
   *
   * @throws IllegalArgumentException naming {@code option}, the path and the formats
   */
  static void check(String option, Path file) {
    if (file == null) {
      return;
    }
    OutputPaths.checkFile(option, file);
    format(option, file);
  }

  /** Writes {@code chart} to {@code file} in the format its extension names, making its directory. */
  static void save(Chart<?, ?> chart, Path file) throws IOException {
    BitmapFormat format = format("--plot", file);
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    try (OutputStream out = Files.newOutputStream(file)) {
      BitmapEncoder.saveBitmap(chart, out, format);
    }
  }

  static BitmapFormat format(String option, Path file) {
    String name = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
    int dot = name.lastIndexOf('.');
    String extension = dot < 0 ? "" : name.substring(dot + 1);
    switch (extension) {
      case "png":
        return BitmapFormat.PNG;
      case "jpg":
      case "jpeg":
        return BitmapFormat.JPG;
      case "gif":
        return BitmapFormat.GIF;
      case "bmp":
        return BitmapFormat.BMP;
      default:
        throw new IllegalArgumentException(option + ": " + file + ": "
            + (extension.isEmpty() ? "no extension" : "." + extension + " is not an image format this draws")
            + "; end the path with " + FORMATS);
    }
  }
}
