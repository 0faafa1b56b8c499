package dev.cascade.router.learning;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What a trained rule is, as its {@code RuleModel} artifact records it.
 *
 * @param name the registry name, e.g. {@code posthoc-quantile}
 * @param version increasing per name
 * @param learner the learner and its settings, e.g. {@code tribuo-xgboost(trees=100,depth=3,eta=0.1)}
 * @param featureNames the inputs, in the model's order
 * @param trainingDataRange which data it was trained on
 * @param validationMetrics cross-validated metrics by name ({@code cv_auc_df}, ...), insertion-ordered
 * @param createdAtMs when it was trained, epoch milliseconds
 * @param modelFingerprint SHA-256 of the small model's ONNX file it was trained for; empty when
 *     not recorded (such a rule is never applied by a router)
 * @param featureLayout the feature extractor its inputs come from ({@link ModelFingerprint#FEATURE_LAYOUT})
 * @param calibrationScores scores on examples the rule did not train on (out-of-fold or held out),
 *     for calibrating a threshold without leakage; may be empty
 * @param calibrationWeights the weight of each calibration score; empty means all 1
 * @param trainingPrompts sorted {@link PromptHash}es of the training prompts; may be empty
 */
public record RuleInfo(
    String name,
    long version,
    String learner,
    List<String> featureNames,
    String trainingDataRange,
    Map<String, Double> validationMetrics,
    long createdAtMs,
    String modelFingerprint,
    String featureLayout,
    double[] calibrationScores,
    double[] calibrationWeights,
    long[] trainingPrompts) {

  public RuleInfo {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(learner, "learner");
    featureNames = List.copyOf(featureNames);
    Objects.requireNonNull(trainingDataRange, "trainingDataRange");
    validationMetrics = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(validationMetrics));
    modelFingerprint = modelFingerprint == null ? "" : modelFingerprint;
    featureLayout = featureLayout == null ? "" : featureLayout;
    calibrationScores = calibrationScores == null ? new double[0] : calibrationScores.clone();
    calibrationWeights = calibrationWeights == null ? new double[0] : calibrationWeights.clone();
    if (calibrationWeights.length != 0 && calibrationWeights.length != calibrationScores.length) {
      throw new IllegalArgumentException("rule '" + name + "': " + calibrationWeights.length
          + " calibration weights for " + calibrationScores.length + " scores");
    }
    trainingPrompts = trainingPrompts == null ? new long[0] : trainingPrompts.clone();
    Arrays.sort(trainingPrompts);
  }

  /** A copy of the calibration scores. */
  @Override
  public double[] calibrationScores() {
    return calibrationScores.clone();
  }

  /** A copy of the calibration weights (empty: all 1). */
  @Override
  public double[] calibrationWeights() {
    return calibrationWeights.clone();
  }

  /** A copy of the sorted training-prompt hashes. */
  @Override
  public long[] trainingPrompts() {
    return trainingPrompts.clone();
  }

  /** Whether the rule was trained on a prompt with this hash (false when none were recorded). */
  public boolean trainedOn(long promptHash) {
    return Arrays.binarySearch(trainingPrompts, promptHash) >= 0;
  }

  /** This info under another version. */
  public RuleInfo withVersion(long newVersion) {
    return new RuleInfo(name, newVersion, learner, featureNames, trainingDataRange, validationMetrics, createdAtMs,
        modelFingerprint, featureLayout, calibrationScores, calibrationWeights, trainingPrompts);
  }

  /** This info bound to a small model and feature layout. */
  public RuleInfo withModel(String fingerprint, String layout) {
    return new RuleInfo(name, version, learner, featureNames, trainingDataRange, validationMetrics, createdAtMs,
        fingerprint, layout, calibrationScores, calibrationWeights, trainingPrompts);
  }

  /** This info with {@code more} added to its validation metrics (replacing those of the same name). */
  public RuleInfo withMetrics(java.util.Map<String, Double> more) {
    java.util.Map<String, Double> metrics = new java.util.LinkedHashMap<>(validationMetrics);
    metrics.putAll(more);
    return new RuleInfo(name, version, learner, featureNames, trainingDataRange, metrics, createdAtMs,
        modelFingerprint, featureLayout, calibrationScores, calibrationWeights, trainingPrompts);
  }

  /** This info with calibration scores (and weights) and training prompts. */
  public RuleInfo withCalibration(double[] scores, double[] weights, long[] prompts) {
    return new RuleInfo(name, version, learner, featureNames, trainingDataRange, validationMetrics, createdAtMs,
        modelFingerprint, featureLayout, scores, weights, prompts);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof RuleInfo r && name.equals(r.name) && version == r.version && learner.equals(r.learner)
        && featureNames.equals(r.featureNames) && trainingDataRange.equals(r.trainingDataRange)
        && validationMetrics.equals(r.validationMetrics) && createdAtMs == r.createdAtMs
        && modelFingerprint.equals(r.modelFingerprint) && featureLayout.equals(r.featureLayout)
        && Arrays.equals(calibrationScores, r.calibrationScores) && Arrays.equals(calibrationWeights, r.calibrationWeights)
        && Arrays.equals(trainingPrompts, r.trainingPrompts);
  }

  @Override
  public int hashCode() {
    return Objects.hash(name, version, learner, featureNames, createdAtMs, modelFingerprint);
  }

  @Override
  public String toString() {
    return "RuleInfo[" + name + " v" + version + ", " + learner + ", model " + ModelFingerprint.shortForm(modelFingerprint)
        + ", " + featureNames.size() + " features, " + calibrationScores.length + " calibration scores]";
  }
}
