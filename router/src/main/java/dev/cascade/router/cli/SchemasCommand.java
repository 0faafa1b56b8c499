package dev.cascade.router.cli;

import dev.cascade.schemas.serde.AvroSerde;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The record versions this release reads and writes, and the {@code schemas.write-versions} value
 * that makes a later release write them: what to set before a rolling upgrade.
 */
@Command(name = "schemas", mixinStandardHelpOptions = true,
    description = {"The Avro record types on the topics: the versions this release reads, the one it writes (with the"
        + " configuration given: schemas.write-versions), and its fingerprint.",
        "Its last line is the schemas.write-versions value that makes a later release write what this one reads:"
            + " set it on the new release before a rolling upgrade, and remove it once every instance (and every"
            + " client's schema files) is upgraded."})
public final class SchemasCommand implements Callable<Integer> {

  @Mixin
  ConfigOptions configOptions = new ConfigOptions();

  @Option(names = "--json", description = "One JSON object: types (each name, reads_from, reads_to, writes, pinned (writes an"
      + " earlier version, as schemas.write-versions says), fingerprint) and write_versions.")
  boolean json;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    configOptions.load(); // applies schemas.write-versions, refusing a bad one
    PrintWriter out = spec.commandLine().getOut();
    Map<String, AvroSerde<?>> all = CascadeSerdes.all();
    List<String> own = new ArrayList<>();
    all.forEach((type, serde) -> own.add(type + "=" + serde.currentVersion()));
    if (json) {
      com.fasterxml.jackson.databind.ObjectMapper mapper = new com.fasterxml.jackson.databind.ObjectMapper();
      com.fasterxml.jackson.databind.node.ObjectNode root = mapper.createObjectNode();
      com.fasterxml.jackson.databind.node.ArrayNode types = root.putArray("types");
      all.forEach((type, serde) -> types.addObject().put("name", type).put("reads_from", 1).put("reads_to", serde.currentVersion())
          .put("writes", serde.writtenVersion()).put("pinned", serde.writtenVersion() != serde.currentVersion())
          .put("fingerprint", fingerprint(serde)));
      root.put("write_versions", String.join(",", own));
      out.println(mapper.writerWithDefaultPrettyPrinter().writeValueAsString(root));
    } else {
      out.printf(Locale.ROOT, "%-18s %-7s %-7s %s%n", "type", "reads", "writes", "fingerprint (of the version written)");
      all.forEach((type, serde) -> out.printf(Locale.ROOT, "%-18s %-7s %-7s %s%n", type, serde.currentVersion() == 1 ? "v1" : "v1-v" + serde.currentVersion(),
          "v" + serde.writtenVersion() + (serde.writtenVersion() != serde.currentVersion() ? "*" : ""),
          fingerprint(serde)));
      if (all.values().stream().anyMatch(s -> s.writtenVersion() != s.currentVersion())) {
        out.println("* an earlier version, as schemas.write-versions says");
      }
      out.println("to make a later release write what this one reads (a rolling upgrade), set on it:");
      out.println("schemas.write-versions=" + String.join(",", own));
    }
    out.flush();
    return 0;
  }

  private static String fingerprint(AvroSerde<?> serde) {
    return AvroSerde.hex(serde.writtenFingerprint());
  }
}
