package dev.cascade.router.cli;

import dev.cascade.models.ModelDirectory;
import dev.cascade.models.TextGenerators;
import picocli.CommandLine;

/**
 * Converters for the options that name a model and an inference engine, so that a name that
 * cannot be one is refused as the command line is read ({@code error: Invalid value for option
 * '--engine': ...} and the pointer to the help, exit 2), before any model loads.
 */
final class ModelArguments {

  private ModelArguments() {}

  /** {@code --engine}: OnnxRuntime, TensorRT or auto (any case; ort, trt). */
  static final class Engine implements CommandLine.ITypeConverter<String> {
    @Override
    public String convert(String value) {
      try {
        return TextGenerators.engine(value);
      } catch (IllegalArgumentException e) {
        throw new CommandLine.TypeConversionException(e.getMessage().replaceFirst("^engine: ", ""));
      }
    }
  }

  /** {@code --model}: a bundled model's name, or a directory with {@code model.onnx} and {@code tokenizer.json}. */
  static final class Model implements CommandLine.ITypeConverter<String> {
    @Override
    public String convert(String value) {
      if (ModelDirectory.BUNDLED.contains(value)) {
        return value; // resolved (copied out of the jar) when it loads, not while the command line is read
      }
      try {
        ModelDirectory.resolve(value);
        return value;
      } catch (IllegalArgumentException e) {
        throw new CommandLine.TypeConversionException(e.getMessage().replaceFirst("^model: ", ""));
      }
    }
  }
}
