package dev.cascade.router.features;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The pieces that hold the science are pure, so they can be tested, benchmarked and reused alone:
 * features, rules, policy decisions and evaluation metrics import neither Kafka nor gRPC nor DJL
 * (nor the generated or model modules that bring them).
 */
class SciencePackagesPurityTest {

  private static final Path ROOT = Path.of("src/main/java/dev/cascade/router");
  private static final List<String> PACKAGES = List.of("features", "rules", "policy", "evaluation");
  private static final Pattern FORBIDDEN =
      Pattern.compile(
          "^\\s*import\\s+(static\\s+)?"
              + "(org\\.apache\\.kafka|io\\.grpc|ai\\.djl|dev\\.cascade\\.(schemas|proto|models))\\b.*");

  @Test
  void sciencePackagesImportNeitherKafkaNorGrpcNorDjl() throws IOException {
    List<Path> sources = new ArrayList<>();
    for (String pkg : PACKAGES) {
      try (Stream<Path> files = Files.walk(ROOT.resolve(pkg))) {
        sources.addAll(files.filter(p -> p.toString().endsWith(".java")).collect(Collectors.toList()));
      }
    }
    List<String> offences = new ArrayList<>();
    for (Path source : sources) {
      for (String line : Files.readAllLines(source)) {
        if (FORBIDDEN.matcher(line).matches()) {
          offences.add(source + ": " + line.trim());
        }
      }
    }

    assertThat(sources).hasSizeGreaterThan(10);
    assertThat(offences).isEmpty();
  }
}
