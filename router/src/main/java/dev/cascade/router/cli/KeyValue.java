package dev.cascade.router.cli;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;

/**
 * One {@code KEY=VALUE} option argument ({@code --set}, {@code --metadata}), split at the first
 * {@code =}. Parsed by its own converter rather than as a picocli {@code Map} option, whose refusal
 * of an argument without {@code =} reads "Value for option option '--set' ...".
 *
 * @param key before the first {@code =}; not empty
 * @param value after it; may be empty
 */
record KeyValue(String key, String value) {

  /** The entries in order, a later one for the same key replacing an earlier one. */
  static Map<String, String> toMap(List<KeyValue> entries) {
    Map<String, String> map = new LinkedHashMap<>();
    entries.forEach(e -> map.put(e.key(), e.value()));
    return map;
  }

  /** Picocli's converter: refuses an argument without {@code =} or with nothing before it, saying so. */
  static final class Converter implements CommandLine.ITypeConverter<KeyValue> {
    @Override
    public KeyValue convert(String text) {
      int eq = text.indexOf('=');
      if (eq < 0) {
        throw new CommandLine.TypeConversionException("'" + text + "' is not KEY=VALUE (no '=')");
      }
      if (eq == 0) {
        throw new CommandLine.TypeConversionException("'" + text + "' is not KEY=VALUE (no KEY before the '=')");
      }
      return new KeyValue(text.substring(0, eq), text.substring(eq + 1));
    }
  }
}
