package dev.cascade.router.learning;

import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.rules.DeferralRule;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.tribuo.Example;
import org.tribuo.Model;
import org.tribuo.Prediction;
import org.tribuo.classification.Label;

/**
 * A trained deferral rule (Post-Hoc-Quantile or Post-Hoc-Embed): its score is the Tribuo model's
 * predicted probability that deferring helps (the large model right where the small one is wrong),
 * so higher means defer. Immutable and thread-safe; the same inputs always give the same score.
 *
 * <p>Built by {@link RuleTrainer} or read from its artifact by {@link RuleArtifacts}.
 */
public final class LearnedRule implements DeferralRule {

  private final RuleInfo info;
  private final Model<Label> model;
  private final FeatureLayout layout;
  private final int benefitIndex;

  LearnedRule(RuleInfo info, Model<Label> model) {
    this.info = Objects.requireNonNull(info, "info");
    this.model = Objects.requireNonNull(model, "model");
    this.layout = new FeatureLayout(info.featureNames());
    Integer benefit = model.getOutputIDInfo().getID(new Label(FeatureLayout.BENEFIT));
    if (benefit == null || benefit < 0 || !model.generatesProbabilities()) {
      throw new IllegalArgumentException(
          "rule '" + info.name() + "': the model must predict probabilities of the label '"
              + FeatureLayout.BENEFIT + "', its outputs are " + model.getOutputIDInfo().getDomain());
    }
    this.benefitIndex = benefit;
  }

  /** The same model under other artifact information (another version, a model binding). */
  public LearnedRule withInfo(RuleInfo newInfo) {
    if (!newInfo.featureNames().equals(info.featureNames())) {
      throw new IllegalArgumentException("rule '" + info.name() + "': the features cannot change");
    }
    return new LearnedRule(newInfo, model);
  }

  /** What the rule is: name, version, learner, features, training data, validation metrics. */
  public RuleInfo info() {
    return info;
  }

  @Override
  public String name() {
    return info.name();
  }

  /** The embedding length the rule was trained with; 0 for a rule without embedding features. */
  public int embeddingLength() {
    return layout.embeddingLength();
  }

  @Override
  public boolean usesEmbedding() {
    return embeddingLength() > 0;
  }

  /** The score without an embedding: for Post-Hoc-Embed, the embedding features count as unknown. */
  @Override
  public double score(UncertaintyFeatures features) {
    return score(features, null);
  }

  /**
   * The predicted probability that deferring this generation helps.
   *
   * @param embedding the small model's embedding, or {@code null}; ignored by a rule without
   *     embedding features
   * @throws IllegalArgumentException if the embedding's length is not the one the rule was trained
   *     with
   */
  @Override
  public double score(UncertaintyFeatures features, float[] embedding) {
    Objects.requireNonNull(features, "features");
    return benefitProbability(model.predict(layout.unlabelled(features, embedding)));
  }

  /**
   * Scores many generations in one call (much faster for a tree ensemble than one at a time).
   *
   * @param embeddings one per generation (entries may be null), or null for none
   */
  @Override
  public double[] scores(List<UncertaintyFeatures> features, List<float[]> embeddings) {
    if (embeddings != null && embeddings.size() != features.size()) {
      throw new IllegalArgumentException(
          features.size() + " feature sets but " + embeddings.size() + " embeddings");
    }
    List<Example<Label>> examples = new ArrayList<>(features.size());
    for (int i = 0; i < features.size(); i++) {
      examples.add(layout.unlabelled(features.get(i), embeddings == null ? null : embeddings.get(i)));
    }
    return scores(model, examples, benefitIndex);
  }

  Model<Label> model() {
    return model;
  }

  FeatureLayout layout() {
    return layout;
  }

  static double[] scores(Model<Label> model, List<Example<Label>> examples, int benefitIndex) {
    List<Prediction<Label>> predictions = model.predict(examples);
    double[] scores = new double[predictions.size()];
    for (int i = 0; i < scores.length; i++) {
      scores[i] = benefitProbability(predictions.get(i));
    }
    return scores;
  }

  static double benefitProbability(Prediction<Label> prediction) {
    Map<String, Label> scores = prediction.getOutputScores();
    Label benefit = scores.get(FeatureLayout.BENEFIT);
    double p = benefit == null ? 0.0 : benefit.getScore();
    return Double.isFinite(p) ? p : 0.0;
  }

  @Override
  public String toString() {
    return "LearnedRule[" + info.name() + " v" + info.version() + ", " + info.learner() + "]";
  }
}
