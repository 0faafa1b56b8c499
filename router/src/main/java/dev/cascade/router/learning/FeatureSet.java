package dev.cascade.router.learning;

import dev.cascade.router.features.UncertaintyFeatures;
import java.util.ArrayList;
import java.util.List;

/**
 * Which inputs a learned rule sees. {@link #QUANTILE} is Post-Hoc-Quantile's: the 25 uncertainty
 * features (log-prob quantiles, sum, mean, length, entropy quantiles). {@link #EMBED} is
 * Post-Hoc-Embed's: the same plus the small model's embedding, as features {@code emb_0, emb_1, …}.
 */
public enum FeatureSet {
  QUANTILE("posthoc-quantile"),
  EMBED("posthoc-embed");

  /** The prefix of the embedding features' names. */
  public static final String EMBEDDING_PREFIX = "emb_";

  private final String ruleName;

  FeatureSet(String ruleName) {
    this.ruleName = ruleName;
  }

  /** The name a rule trained on this set is registered under. */
  public String ruleName() {
    return ruleName;
  }

  /** Whether the set includes the embedding. */
  public boolean usesEmbedding() {
    return this == EMBED;
  }

  /** The set whose rule is registered as {@code name}. */
  public static FeatureSet forRuleName(String name) {
    for (FeatureSet set : values()) {
      if (set.ruleName.equals(name)) {
        return set;
      }
    }
    throw new IllegalArgumentException(
        "no learned rule is called '" + name + "'; known: posthoc-quantile, posthoc-embed");
  }

  /** The feature names of this set for an embedding of {@code embeddingLength} values. */
  public List<String> featureNames(int embeddingLength) {
    List<String> names = new ArrayList<>(UncertaintyFeatures.names());
    if (usesEmbedding()) {
      for (int i = 0; i < embeddingLength; i++) {
        names.add(EMBEDDING_PREFIX + i);
      }
    }
    return List.copyOf(names);
  }
}
