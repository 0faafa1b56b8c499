package dev.cascade.router.learning;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Collection;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * How many of an evaluation's items a learned rule was trained on, matched by {@link PromptHash}
 * against the training prompts its artifact records. A rule scored on its own training prompts
 * looks better than it will on new ones, so an evaluation with overlap is not a test of it.
 *
 * @param rule the rule's name
 * @param version the rule's version
 * @param overlapping the items whose prompt the rule was trained on
 * @param items the items evaluated
 */
public record TrainingOverlap(String rule, long version, int overlapping, int items) {

  public TrainingOverlap {
    Objects.requireNonNull(rule, "rule");
    if (overlapping < 0 || overlapping > items) {
      throw new IllegalArgumentException(overlapping + " overlapping items of " + items);
    }
  }

  /**
   * The overlap of {@code rule}'s training prompts with {@code prompts} (one per evaluated item;
   * a prompt that occurs twice counts twice); empty when the artifact records no training prompts,
   * so nothing can be said.
   */
  public static Optional<TrainingOverlap> of(RuleInfo rule, Collection<String> prompts) {
    Objects.requireNonNull(rule, "rule");
    Objects.requireNonNull(prompts, "prompts");
    return ofHashes(rule, prompts.stream().mapToLong(PromptHash::of).toArray());
  }

  /** As {@link #of(RuleInfo, Collection)}, from the items' {@link PromptHash}es. */
  public static Optional<TrainingOverlap> ofHashes(RuleInfo rule, long[] promptHashes) {
    Objects.requireNonNull(rule, "rule");
    if (rule.trainingPrompts().length == 0) {
      return Optional.empty();
    }
    int overlapping = 0;
    for (long hash : promptHashes) {
      overlapping += rule.trainedOn(hash) ? 1 : 0;
    }
    return Optional.of(new TrainingOverlap(rule.name(), rule.version(), overlapping, promptHashes.length));
  }

  /** The share of the items that overlap, 0 for no items. */
  public double fraction() {
    return items == 0 ? 0.0 : (double) overlapping / items;
  }

  /** Whether any item overlaps: then the evaluation is not a test of this rule. */
  public boolean any() {
    return overlapping > 0;
  }

  /**
   * The warning as a JSON object: {@code type} ({@code training_overlap}), {@code rule},
   * {@code version}, {@code overlapping}, {@code items}, {@code fraction} and {@code message}.
   */
  public ObjectNode toJson() {
    ObjectNode node = JsonNodeFactory.instance.objectNode();
    node.put("type", "training_overlap");
    node.put("rule", rule);
    node.put("version", version);
    node.put("overlapping", overlapping);
    node.put("items", items);
    node.put("fraction", fraction());
    node.put("message", message());
    return node;
  }

  /** The warning an evaluation prints. */
  public String message() {
    return String.format(Locale.ROOT,
        "warning: %s v%d was trained on %d of the %d items evaluated (%.1f%%): its numbers here are"
            + " partly in-sample, not a test of it", rule, version, overlapping, items, 100 * fraction());
  }
}
