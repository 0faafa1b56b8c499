package dev.cascade.router.learning;

import dev.cascade.schemas.avro.RuleModel;
import dev.cascade.schemas.serde.CascadeSerdes;
import dev.cascade.schemas.serde.SchemaDecodingException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.tribuo.Model;
import org.tribuo.classification.Label;

/**
 * A trained rule as a versioned artifact: the Avro {@code RuleModel} record (name, version,
 * learner, feature names, training data range, validation metrics, creation time), whose {@code
 * parameters} are the Tribuo model in Tribuo's own protobuf format. On disk and on a topic the
 * record is in the project's Avro single-object encoding ({@link CascadeSerdes#ruleModels()}).
 * A rule read back scores exactly as the rule written.
 */
public final class RuleArtifacts {

  private RuleArtifacts() {}

  /** The artifact record of a rule. */
  public static RuleModel toRecord(LearnedRule rule) {
    Objects.requireNonNull(rule, "rule");
    RuleInfo info = rule.info();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try {
      rule.model().serializeToStream(bytes);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot serialize rule '" + info.name() + "'", e);
    }
    return RuleModel.newBuilder()
        .setName(info.name())
        .setVersion(info.version())
        .setLearner(info.learner())
        .setFeatureNames(new ArrayList<>(info.featureNames()))
        .setParameters(ByteBuffer.wrap(bytes.toByteArray()))
        .setTrainingDataRange(info.trainingDataRange())
        .setValidationMetrics(new LinkedHashMap<>(info.validationMetrics()))
        .setCreatedAtMs(info.createdAtMs())
        .setModelFingerprint(info.modelFingerprint())
        .setFeatureLayout(info.featureLayout())
        .setCalibrationScores(boxed(info.calibrationScores()))
        .setCalibrationWeights(boxed(info.calibrationWeights()))
        .setTrainingPrompts(java.util.Arrays.stream(info.trainingPrompts()).boxed().toList())
        .build();
  }

  /**
   * The rule an artifact record holds.
   *
   * @throws IllegalArgumentException if the parameters are not a Tribuo classification model that
   *     predicts the benefit label over the record's features (the message names the rule)
   */
  @SuppressWarnings("unchecked")
  public static LearnedRule fromRecord(RuleModel record) {
    Objects.requireNonNull(record, "record");
    ByteBuffer buffer = record.getParameters().duplicate();
    byte[] bytes = new byte[buffer.remaining()];
    buffer.get(bytes);
    Model<?> model;
    try {
      model = Model.deserializeFromStream(new ByteArrayInputStream(bytes));
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException(
          "rule '" + record.getName() + "' v" + record.getVersion()
              + ": parameters are not a Tribuo model: " + e.getMessage(), e);
    }
    if (!model.validate(Label.class)) {
      throw new IllegalArgumentException(
          "rule '" + record.getName() + "': the model is not a classification model");
    }
    Map<String, Double> metrics = new LinkedHashMap<>();
    record.getValidationMetrics().forEach((k, v) -> metrics.put(k.toString(), v));
    RuleInfo info = new RuleInfo(record.getName(), record.getVersion(), record.getLearner(),
        record.getFeatureNames().stream().map(Object::toString).toList(),
        record.getTrainingDataRange(), metrics, record.getCreatedAtMs(), record.getModelFingerprint(),
        record.getFeatureLayout(), unboxed(record.getCalibrationScores()), unboxed(record.getCalibrationWeights()),
        record.getTrainingPrompts().stream().mapToLong(Long::longValue).toArray());
    for (var feature : model.getFeatureIDMap()) {
      if (!info.featureNames().contains(feature.getName())) {
        throw new IllegalArgumentException("rule '" + record.getName() + "': the model uses feature '"
            + feature.getName() + "' that the record does not list");
      }
    }
    return new LearnedRule(info, (Model<Label>) model);
  }

  private static java.util.List<Double> boxed(double[] values) {
    return java.util.Arrays.stream(values).boxed().toList();
  }

  private static double[] unboxed(java.util.List<Double> values) {
    return values.stream().mapToDouble(Double::doubleValue).toArray();
  }

  /** The artifact's bytes: the record in Avro single-object encoding. */
  public static byte[] encode(LearnedRule rule) {
    return CascadeSerdes.ruleModels().encode(toRecord(rule));
  }

  /**
   * The rule in an artifact's bytes.
   *
   * @throws IllegalArgumentException if the bytes are not a rule artifact
   */
  public static LearnedRule decode(byte[] bytes) {
    Objects.requireNonNull(bytes, "bytes");
    RuleModel record;
    try {
      record = CascadeSerdes.ruleModels().decode(bytes);
    } catch (SchemaDecodingException e) {
      throw new IllegalArgumentException("not a rule artifact: " + e.getMessage(), e);
    }
    return fromRecord(record);
  }

  /** Writes a rule's artifact to a file (creating its parent directories). */
  public static void write(LearnedRule rule, Path file) throws IOException {
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    Files.write(file, encode(rule));
  }

  /**
   * Reads a rule from an artifact file.
   *
   * @throws IllegalArgumentException if the file is not a rule artifact (the message names it)
   */
  public static LearnedRule read(Path file) throws IOException {
    try {
      return decode(Files.readAllBytes(file));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  /** Reads a rule from a stream holding one artifact (read to its end, not closed). */
  public static LearnedRule read(InputStream in) throws IOException {
    return decode(in.readAllBytes());
  }
}
