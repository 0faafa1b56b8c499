package dev.cascade.router.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The README's configuration table lists exactly the keys the code knows, with their defaults. */
class ReadmeConfigurationTableTest {

  private static final Pattern ROW = Pattern.compile("^\\| `([a-z.-]+)` \\| (`([^`]*)`|\\(empty\\)) \\|", Pattern.MULTILINE);

  @Test
  void everyKeyIsDocumentedWithItsDefault() throws Exception {
    String readme = Files.readString(Path.of("..", "README.md"));
    Map<String, String> documented = new LinkedHashMap<>();
    Matcher m = ROW.matcher(readme);
    while (m.find()) {
      documented.put(m.group(1), m.group(3) == null ? "" : m.group(3));
    }
    Map<String, String> actual = new LinkedHashMap<>();
    for (ConfigKey<?> key : CascadeConfig.KEYS) {
      actual.put(key.name(), key.defaultValue());
    }
    assertThat(documented).containsExactlyInAnyOrderEntriesOf(actual);
  }
}
