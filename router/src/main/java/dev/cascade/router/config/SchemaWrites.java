package dev.cascade.router.config;

import dev.cascade.schemas.serde.AvroSerde;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies {@code schemas.write-versions} to every record serde of this process: what it writes
 * during a rolling upgrade, until every reader runs this release.
 */
public final class SchemaWrites {

  private static final Logger LOG = LoggerFactory.getLogger(SchemaWrites.class);
  private static Map<String, Integer> applied = Map.of();

  private SchemaWrites() {}

  /** Makes this process write the versions {@code config} names (and this release's for the rest). */
  public static synchronized void apply(CascadeConfig config) {
    Map<String, Integer> versions = config.get(CascadeConfig.SCHEMAS_WRITE_VERSIONS);
    CascadeSerdes.writeVersions(versions);
    if (!versions.equals(applied) && !describe(versions).isEmpty()) {
      LOG.warn("{}: writing {}; the fields added since are left out until the setting is removed",
          CascadeConfig.SCHEMAS_WRITE_VERSIONS.name(), describe(versions));
    }
    applied = versions;
  }

  /** {@code CascadeResponse v6 (this release's: v7), ...}. */
  static String describe(Map<String, Integer> versions) {
    List<String> parts = new ArrayList<>();
    Map<String, AvroSerde<?>> all = CascadeSerdes.all();
    versions.forEach((type, v) -> {
      if (v != all.get(type).currentVersion()) { // naming this release's own version pins nothing
        parts.add(type + " v" + v + " (this release's: v" + all.get(type).currentVersion() + ")");
      }
    });
    return String.join(", ", parts);
  }
}
