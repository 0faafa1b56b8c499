package dev.cascade.schemas.serde;

import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.DeadLetter;
import dev.cascade.schemas.avro.DeferralPolicy;
import dev.cascade.schemas.avro.Escalation;
import dev.cascade.schemas.avro.Feedback;
import dev.cascade.schemas.avro.LabelledExample;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.RuleModel;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;

/**
 * The serde of every Kafka record type of the cascade. Each method returns one shared,
 * thread-safe instance.
 */
public final class CascadeSerdes {

  /** Every top-level record type that travels on a topic. */
  public static final List<Class<? extends SpecificRecord>> RECORD_TYPES = List.of(
      CascadeRequest.class, CascadeResponse.class, RoutingOutcome.class, Escalation.class,
      DeferralPolicy.class, RuleModel.class, Feedback.class, DeadLetter.class, LabelledExample.class);

  private static final AvroSerde<CascadeRequest> REQUESTS = AvroSerde.forType(CascadeRequest.class);
  private static final AvroSerde<CascadeResponse> RESPONSES =
      AvroSerde.forType(CascadeResponse.class);
  private static final AvroSerde<RoutingOutcome> OUTCOMES = AvroSerde.forType(RoutingOutcome.class);
  private static final AvroSerde<Escalation> ESCALATIONS = AvroSerde.forType(Escalation.class);
  private static final AvroSerde<DeferralPolicy> POLICIES = AvroSerde.forType(DeferralPolicy.class);
  private static final AvroSerde<RuleModel> RULE_MODELS = AvroSerde.forType(RuleModel.class);
  private static final AvroSerde<Feedback> FEEDBACK = AvroSerde.forType(Feedback.class);
  private static final AvroSerde<DeadLetter> DEAD_LETTERS = AvroSerde.forType(DeadLetter.class);
  private static final AvroSerde<LabelledExample> LABELLED_EXAMPLES = AvroSerde.forType(LabelledExample.class);

  private CascadeSerdes() {}

  /** Requests topic values. */
  public static AvroSerde<CascadeRequest> requests() {
    return REQUESTS;
  }

  /** Responses topic values. */
  public static AvroSerde<CascadeResponse> responses() {
    return RESPONSES;
  }

  /** Outcomes topic values. */
  public static AvroSerde<RoutingOutcome> outcomes() {
    return OUTCOMES;
  }

  /** Escalations topic values. */
  public static AvroSerde<Escalation> escalations() {
    return ESCALATIONS;
  }

  /** Policy topic values. */
  public static AvroSerde<DeferralPolicy> policies() {
    return POLICIES;
  }

  /** Trained rule artifacts. */
  public static AvroSerde<RuleModel> ruleModels() {
    return RULE_MODELS;
  }

  /** Feedback topic values. */
  public static AvroSerde<Feedback> feedback() {
    return FEEDBACK;
  }

  /** The continuous learner's labelled examples (its changelogged example store). */
  public static AvroSerde<LabelledExample> labelledExamples() {
    return LABELLED_EXAMPLES;
  }

  /** Dead-letter topic values. */
  public static AvroSerde<DeadLetter> deadLetters() {
    return DEAD_LETTERS;
  }

  /** Every serde above, by record type name ({@code CascadeResponse}), in {@link #RECORD_TYPES} order. */
  public static Map<String, AvroSerde<?>> all() {
    Map<String, AvroSerde<?>> all = new java.util.LinkedHashMap<>();
    for (AvroSerde<?> serde : List.of(REQUESTS, RESPONSES, OUTCOMES, ESCALATIONS, POLICIES, RULE_MODELS, FEEDBACK,
        DEAD_LETTERS, LABELLED_EXAMPLES)) {
      all.put(serde.type().getSimpleName(), serde);
    }
    return all;
  }

  /**
   * Checks {@code versions} (record type name to a version of its history) as {@link #writeVersions}
   * would take them, changing nothing.
   *
   * @throws IllegalArgumentException naming an unknown type, or the versions a type has
   */
  public static void checkWriteVersions(Map<String, Integer> versions) {
    Map<String, AvroSerde<?>> all = all();
    versions.forEach((type, version) -> {
      AvroSerde<?> serde = all.get(type);
      if (serde == null) {
        throw new IllegalArgumentException("unknown record type '" + type + "'; the types are " + all.keySet());
      }
      if (version == null || version < 1 || version > serde.currentVersion()) {
        throw new IllegalArgumentException(type + " has versions 1.." + serde.currentVersion() + ", not " + version);
      }
    });
  }

  /**
   * Makes every serde of this JVM write the version {@code versions} gives its type, and the types
   * it does not name their current schema (an empty map undoes every pin): for a rolling upgrade,
   * the new release writes what the old one reads until every reader has the new release.
   *
   * @throws IllegalArgumentException as {@link #checkWriteVersions}, changing nothing
   */
  public static void writeVersions(Map<String, Integer> versions) {
    checkWriteVersions(versions);
    all().forEach((type, serde) -> serde.writeVersion(versions.getOrDefault(type, serde.currentVersion())));
  }

  /**
   * Which record type and version a fingerprint belongs to, e.g. {@code CascadeResponse v1}, or
   * null; lets a decoding error say "that is a response" when a record landed on the wrong topic.
   */
  static String describeFingerprint(long fingerprint) {
    return Catalog.BY_FINGERPRINT.get(fingerprint);
  }

  /** Built on first use only: the happy path never needs it. */
  private static final class Catalog {
    private static final Map<Long, String> BY_FINGERPRINT = build();

    private static Map<Long, String> build() {
      Map<Long, String> all = new HashMap<>();
      for (Class<? extends SpecificRecord> type : RECORD_TYPES) {
        SchemaHistory history = SchemaHistory.of(type);
        for (int v = 1; v <= history.versions().size(); v++) {
          all.put(SchemaNormalization.parsingFingerprint64(history.version(v)),
              type.getSimpleName() + " v" + v);
        }
        all.putIfAbsent(
            SchemaNormalization.parsingFingerprint64(SpecificData.getForClass(type).getSchema(type)),
            type.getSimpleName() + " (current, unreleased)");
      }
      return Map.copyOf(all);
    }
  }
}
