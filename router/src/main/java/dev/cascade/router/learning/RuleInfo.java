package dev.cascade.router.learning;

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
 */
public record RuleInfo(
    String name,
    long version,
    String learner,
    List<String> featureNames,
    String trainingDataRange,
    Map<String, Double> validationMetrics,
    long createdAtMs) {

  public RuleInfo {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(learner, "learner");
    featureNames = List.copyOf(featureNames);
    Objects.requireNonNull(trainingDataRange, "trainingDataRange");
    validationMetrics = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(validationMetrics));
  }
}
