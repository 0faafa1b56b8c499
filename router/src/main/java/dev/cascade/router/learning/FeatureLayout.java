package dev.cascade.router.learning;

import dev.cascade.router.features.UncertaintyFeatures;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.tribuo.Example;
import org.tribuo.classification.Label;
import org.tribuo.classification.LabelFactory;
import org.tribuo.impl.ArrayExample;

/**
 * Maps a rule's named inputs onto Tribuo examples: each name is one of the 25 uncertainty
 * features ({@link UncertaintyFeatures#names()}) or an embedding value {@code emb_i}. Immutable.
 *
 * <p>Without an embedding, the embedding features are left out of the example. Tribuo reads an
 * absent feature as unknown: a standardised linear model sees it at its training mean, a tree
 * ensemble follows its default branch. So a Post-Hoc-Embed rule still scores, on its quantile
 * features alone, a generation from a model that exports no embedding.
 */
final class FeatureLayout {

  static final LabelFactory LABELS = new LabelFactory();
  static final String BENEFIT = "benefit";
  static final String NO_BENEFIT = "no-benefit";

  private static final List<String> BASE = UncertaintyFeatures.names();

  private final List<String> names;
  private final int[] source; // index into toVector(), or BASE.size() + i for emb_i
  private final int embeddingLength;
  private final String[] baseNames;
  private final int[] baseSource;

  FeatureLayout(List<String> names) {
    this.names = List.copyOf(Objects.requireNonNull(names, "names"));
    if (this.names.isEmpty()) {
      throw new IllegalArgumentException("a rule needs at least one feature");
    }
    if (this.names.stream().distinct().count() != this.names.size()) {
      throw new IllegalArgumentException("feature names repeat: " + this.names);
    }
    this.source = new int[this.names.size()];
    int maxEmbedding = 0;
    List<Integer> base = new ArrayList<>();
    for (int i = 0; i < source.length; i++) {
      String name = this.names.get(i);
      int index = BASE.indexOf(name);
      if (index >= 0) {
        source[i] = index;
        base.add(i);
      } else if (name.startsWith(FeatureSet.EMBEDDING_PREFIX)) {
        int e = parseEmbeddingIndex(name);
        source[i] = BASE.size() + e;
        maxEmbedding = Math.max(maxEmbedding, e + 1);
      } else {
        throw new IllegalArgumentException(
            "unknown feature '" + name + "'; features are " + BASE + " and emb_0, emb_1, ...");
      }
    }
    this.embeddingLength = maxEmbedding;
    this.baseNames = new String[base.size()];
    this.baseSource = new int[base.size()];
    for (int j = 0; j < base.size(); j++) {
      baseNames[j] = this.names.get(base.get(j));
      baseSource[j] = source[base.get(j)];
    }
  }

  List<String> names() {
    return names;
  }

  /** The embedding length the layout expects; 0 when it uses no embedding. */
  int embeddingLength() {
    return embeddingLength;
  }

  Example<Label> example(UncertaintyFeatures features, float[] embedding, Label label) {
    double[] vector = features.toVector();
    if (embeddingLength == 0 || embedding == null) {
      double[] values = new double[baseSource.length];
      for (int j = 0; j < values.length; j++) {
        values[j] = vector[baseSource[j]];
      }
      return new ArrayExample<>(label, baseNames, values);
    }
    if (embedding.length != embeddingLength) {
      throw new IllegalArgumentException(
          "the rule expects an embedding of " + embeddingLength + " values, got " + embedding.length);
    }
    String[] allNames = names.toArray(String[]::new);
    double[] values = new double[source.length];
    for (int i = 0; i < values.length; i++) {
      values[i] = source[i] < BASE.size() ? vector[source[i]] : embedding[source[i] - BASE.size()];
    }
    return new ArrayExample<>(label, allNames, values);
  }

  Example<Label> example(DeferralExample example) {
    Example<Label> out = example(
        example.features(),
        example.embeddingUnsafe(),
        new Label(example.benefit() ? BENEFIT : NO_BENEFIT));
    out.setWeight((float) example.weight());
    return out;
  }

  Example<Label> unlabelled(UncertaintyFeatures features, float[] embedding) {
    return example(features, embedding, LABELS.getUnknownOutput());
  }

  private static int parseEmbeddingIndex(String name) {
    String digits = name.substring(FeatureSet.EMBEDDING_PREFIX.length());
    if (!digits.matches("0|[1-9][0-9]{0,5}")) {
      throw new IllegalArgumentException("malformed embedding feature '" + name + "'");
    }
    return Integer.parseInt(digits);
  }
}
